package registry_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stuffed-dev/stuffed/internal/testreg"
	"github.com/stuffed-dev/stuffed/registry"
)

const (
	componentFixture = "../test/testdata/hello.component.wasm"
	coreFixture      = "../test/testdata/hello.core.wasm"
)

func open(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func sha(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func remoteClient(t *testing.T, host string) *registry.Client {
	t.Helper()
	c, err := registry.New(registry.WithHost(host), registry.WithPlainHTTP(true))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPushResolveFetchComponent(t *testing.T) {
	reg := testreg.Start(t, 0)
	c := remoteClient(t, reg.Host)
	ctx := context.Background()
	res, err := c.Push(ctx, "wasm/hello", "v1", open(t, componentFixture), registry.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := sha(t, componentFixture); res.Layer.Digest != want {
		t.Fatalf("layer digest %s, want %s", res.Layer.Digest, want)
	}
	art, err := c.Resolve(ctx, "wasm/hello", "v1")
	if err != nil {
		t.Fatal(err)
	}
	if art.Layer != res.Layer || art.Layer.MediaType != registry.MediaTypeWasmLayer {
		t.Fatalf("resolved %+v, pushed %+v", art.Layer, res.Layer)
	}
	pinned, err := c.Resolve(ctx, "wasm/hello", res.ManifestDigest)
	if err != nil || pinned.Layer != res.Layer {
		t.Fatalf("resolve by digest: %+v %v", pinned, err)
	}
	if _, err := c.Push(ctx, "wasm/hello", res.ManifestDigest, open(t, componentFixture), registry.PushOptions{}); !errors.Is(err, registry.ErrInvalidName) {
		t.Fatalf("push to a digest: %v, want ErrInvalidName", err)
	}
	rc, err := c.OpenBlob(ctx, "wasm/hello", art.Layer.Digest, art.Layer.Size)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	want, _ := os.ReadFile(componentFixture)
	if err != nil || string(got) != string(want) {
		t.Fatalf("blob: %d bytes, err %v; want %d bytes", len(got), err, len(want))
	}

	// The config describes the component as wkg does.
	cfg := fetchConfig(t, reg.Host, "wasm/hello", "v1")
	if cfg["os"] != "wasip2" || cfg["architecture"] != "wasm" {
		t.Fatalf("config %v", cfg)
	}
	comp := cfg["component"].(map[string]any)
	exports := comp["exports"].([]any)
	if !slices.Contains(exports, any("wasi:cli/run@0.2.12")) {
		t.Fatalf("exports %v", exports)
	}
	if ld := cfg["layerDigests"].([]any); len(ld) != 1 || ld[0] != res.Layer.Digest {
		t.Fatalf("layerDigests %v", ld)
	}
}

// fetchConfig reads the config blob of repo:tag with plain HTTP, not through our client.
func fetchConfig(t *testing.T, host, repo, tag string) map[string]any {
	t.Helper()
	var m struct {
		Config struct {
			MediaType string `json:"mediaType"`
			Digest    string `json:"digest"`
		} `json:"config"`
	}
	getJSON(t, "http://"+host+"/v2/"+repo+"/manifests/"+tag, &m)
	if m.Config.MediaType != registry.MediaTypeWasmConfig {
		t.Fatalf("config media type %q", m.Config.MediaType)
	}
	var cfg map[string]any
	getJSON(t, "http://"+host+"/v2/"+repo+"/blobs/"+m.Config.Digest, &cfg)
	return cfg
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func TestCoreModuleIsWasip1WithoutComponent(t *testing.T) {
	reg := testreg.Start(t, 0)
	c := remoteClient(t, reg.Host)
	if _, err := c.Push(context.Background(), "core", "v1", open(t, coreFixture), registry.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := fetchConfig(t, reg.Host, "core", "v1")
	if cfg["os"] != "wasip1" {
		t.Fatalf("os %v", cfg["os"])
	}
	if _, ok := cfg["component"]; ok {
		t.Fatalf("core module config has a component field: %v", cfg)
	}
}

func TestSeedFormat(t *testing.T) {
	reg := testreg.Start(t, 0)
	c := remoteClient(t, reg.Host)
	ctx := context.Background()
	if _, err := c.Push(ctx, "seed", "v1", open(t, componentFixture), registry.PushOptions{Format: registry.FormatSeed}); err != nil {
		t.Fatal(err)
	}
	var m struct {
		ArtifactType string                       `json:"artifactType"`
		Config       struct{ MediaType string }   `json:"config"`
		Layers       []struct{ MediaType string } `json:"layers"`
	}
	getJSON(t, "http://"+reg.Host+"/v2/seed/manifests/v1", &m)
	if m.ArtifactType != registry.MediaTypeSeedArtifact || m.Config.MediaType != registry.MediaTypeSeedConfig ||
		len(m.Layers) != 1 || m.Layers[0].MediaType != registry.MediaTypeSeedLayer {
		t.Fatalf("seed manifest %+v", m)
	}
	art, err := c.Resolve(ctx, "seed", "v1")
	if err != nil || art.Layer.Digest != sha(t, componentFixture) {
		t.Fatalf("resolve seed: %+v %v", art, err)
	}
}

func TestPushRefusesNonWasm(t *testing.T) {
	reg := testreg.Start(t, 0)
	proxy := testreg.NewProxy(t, reg)
	c := remoteClient(t, proxy.Host)
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("#!/bin/sh\necho not wasm\n")
	_, err = c.Push(context.Background(), "bad", "v1", f, registry.PushOptions{})
	if !errors.Is(err, registry.ErrNotWasm) {
		t.Fatalf("err %v, want ErrNotWasm", err)
	}
	if n := proxy.Count("POST upload") + proxy.Count("PUT manifest"); n != 0 {
		t.Fatalf("%d upload requests for a refused push", n)
	}
}

func TestCatalogPagesAndTags(t *testing.T) {
	reg := testreg.Start(t, 2) // two repositories per page
	c := remoteClient(t, reg.Host)
	ctx := context.Background()
	want := []string{"a", "b/c", "b/d", "e", "f/g/h"}
	for _, r := range want {
		for _, tag := range []string{"v1", "v2", "latest"} {
			if _, err := c.Push(ctx, r, tag, open(t, coreFixture), registry.PushOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := c.Repos(ctx)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("repos %v %v, want %v", got, err, want)
	}
	tags, err := c.Tags(ctx, "b/c")
	if err != nil || !slices.Equal(tags, []string{"latest", "v1", "v2"}) {
		t.Fatalf("tags %v %v", tags, err)
	}
	if _, err := c.Tags(ctx, "nope"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("tags of a missing repo: %v", err)
	}
	if _, err := c.Resolve(ctx, "a", "nope"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("resolve a missing tag: %v", err)
	}
}

func TestLocalStore(t *testing.T) {
	root := t.TempDir()
	c, err := registry.New(registry.WithLocalRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, r := range []string{"wasm/hello", "wasm", "x"} {
		if _, err := c.Push(ctx, r, "v1", open(t, componentFixture), registry.PushOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	repos, err := c.Repos(ctx)
	if err != nil || !slices.Equal(repos, []string{"wasm", "wasm/hello", "x"}) {
		t.Fatalf("repos %v %v", repos, err)
	}
	if _, err := os.Stat(filepath.Join(root, "wasm", "hello", "oci-layout")); err != nil {
		t.Fatalf("not an OCI layout per repository: %v", err)
	}
	art, err := c.Resolve(ctx, "wasm/hello", "v1")
	if err != nil || art.Layer.Digest != sha(t, componentFixture) {
		t.Fatalf("resolve %+v %v", art, err)
	}
	if _, err := c.Push(ctx, "wasm/blobs", "v1", open(t, componentFixture), registry.PushOptions{}); !errors.Is(err, registry.ErrInvalidName) {
		t.Fatalf("reserved name: %v", err)
	}
	if _, err := c.Tags(ctx, "missing"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("missing local repo: %v", err)
	}
	empty, err := registry.New(registry.WithLocalRoot(filepath.Join(root, "does-not-exist")))
	if err != nil {
		t.Fatal(err)
	}
	if repos, err := empty.Repos(ctx); err != nil || len(repos) != 0 {
		t.Fatalf("empty store: %v %v", repos, err)
	}
}
