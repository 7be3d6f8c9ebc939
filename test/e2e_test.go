package test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stuffed-dev/stuffed/internal/testreg"
)

const (
	componentFile = "hello.component.wasm"
	coreFile      = "hello.core.wasm"
	hello         = "hello from stuffed\n"
)

func sha256Hex(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// toolEnv gives regctl and oras a private HOME, with plain HTTP allowed for host.
func toolEnv(t testing.TB, host string) []string {
	t.Helper()
	env := []string{"HOME=" + t.TempDir(), "DOCKER_CONFIG=" + t.TempDir()}
	if host != "" {
		must(t, "", env, tool(t, "regctl"), "registry", "set", host, "--tls", "disabled")
	}
	return env
}

type manifestJSON struct {
	ArtifactType string `json:"artifactType"`
	Config       struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
	} `json:"config"`
	Layers []struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Size        int64             `json:"size"`
		Annotations map[string]string `json:"annotations"`
	} `json:"layers"`
}

// TestCLIPushIsReadByPeers: what `stuffedfs push` writes, regctl and oras read correctly,
// and `stuffedfs pull` gets back byte for byte.
func TestCLIPushIsReadByPeers(t *testing.T) {
	host := startRegistry(t)
	env := toolEnv(t, host)
	comp := fixture(t, componentFile)
	ref := host + "/wasm/hello:v1"

	out := must(t, "", env, stuffedBin, "push", "--reference", ref, "--root-path", comp, "-i")
	if want := "pushed: " + ref + " with digest: " + sha256Hex(t, comp) + "\n"; out != want {
		t.Fatalf("push printed %q, want %q", out, want)
	}

	var m manifestJSON
	raw := must(t, "", env, tool(t, "regctl"), "manifest", "get", ref, "--format", "raw-body")
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatal(err)
	}
	if m.Config.MediaType != "application/vnd.wasm.config.v0+json" || len(m.Layers) != 1 ||
		m.Layers[0].MediaType != "application/wasm" || m.Layers[0].Digest != "sha256:"+sha256Hex(t, comp) ||
		m.Layers[0].Annotations["org.opencontainers.image.title"] != componentFile {
		t.Fatalf("manifest as regctl reads it: %s", raw)
	}
	var cfg struct {
		Architecture string   `json:"architecture"`
		OS           string   `json:"os"`
		LayerDigests []string `json:"layerDigests"`
		Created      string   `json:"created"`
		Component    struct {
			Imports []string `json:"imports"`
			Exports []string `json:"exports"`
		} `json:"component"`
	}
	cfgRaw := must(t, "", env, tool(t, "regctl"), "blob", "get", host+"/wasm/hello", m.Config.Digest)
	if err := json.Unmarshal([]byte(cfgRaw), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Architecture != "wasm" || cfg.OS != "wasip2" || cfg.Created == "" ||
		!slices.Equal(cfg.LayerDigests, []string{m.Layers[0].Digest}) ||
		!slices.Contains(cfg.Component.Exports, "wasi:cli/run@0.2.12") ||
		!slices.Contains(cfg.Component.Imports, "wasi:cli/stdout@0.2.12") {
		t.Fatalf("config: %s", cfgRaw)
	}
	blob := must(t, "", env, tool(t, "regctl"), "blob", "get", host+"/wasm/hello", m.Layers[0].Digest)
	want, _ := os.ReadFile(comp)
	if blob != string(want) {
		t.Fatal("regctl blob get returned other bytes")
	}

	orasDir := t.TempDir()
	must(t, "", env, tool(t, "oras"), "pull", "--plain-http", ref, "-o", orasDir)
	if got, _ := os.ReadFile(filepath.Join(orasDir, componentFile)); !bytes.Equal(got, want) {
		t.Fatal("oras pull returned other bytes")
	}

	pullDir := t.TempDir()
	out = must(t, pullDir, env, stuffedBin, "pull", "--reference", ref, "-i")
	name := "./sha256-" + sha256Hex(t, comp)
	if out != "pulled: "+name+"\n" {
		t.Fatalf("pull printed %q", out)
	}
	if got, _ := os.ReadFile(filepath.Join(pullDir, name)); !bytes.Equal(got, want) {
		t.Fatal("stuffedfs pull wrote other bytes")
	}

	// pull -o never writes through a symlink: the link is replaced, its target untouched.
	outside := filepath.Join(t.TempDir(), "outside.txt")
	os.WriteFile(outside, []byte("keep me"), 0o644)
	link := filepath.Join(pullDir, "linked.wasm")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	must(t, "", env, stuffedBin, "pull", "--reference", ref, "-i", "-o", link)
	if b, _ := os.ReadFile(outside); string(b) != "keep me" {
		t.Fatalf("pull -o wrote through a symlink into %s", outside)
	}
	if fi, err := os.Lstat(link); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("pull -o %s: %v %v, want a regular file", link, fi, err)
	}
	must(t, "", nil, "cmp", link, comp)

	// The original tool's layout, on request.
	seed := host + "/wasm/seed:v1"
	must(t, "", env, stuffedBin, "push", "--reference", seed, "--root-path", comp, "-i", "--format", "seed")
	raw = must(t, "", env, tool(t, "regctl"), "manifest", "get", seed, "--format", "raw-body")
	m = manifestJSON{}
	json.Unmarshal([]byte(raw), &m)
	if m.ArtifactType != "application/vnd.bytecodealliance.component.v1+wasm" ||
		m.Config.MediaType != "application/vnd.oci.image.config.v1+json" ||
		len(m.Layers) != 1 || m.Layers[0].MediaType != "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm" {
		t.Fatalf("seed manifest: %s", raw)
	}

	// Not Wasm: refused with a clear error, nothing pushed.
	notWasm := filepath.Join(t.TempDir(), "script.sh")
	os.WriteFile(notWasm, []byte("#!/bin/sh\necho hi\n"), 0o644)
	r := run(t, "", env, stuffedBin, "push", "--reference", host+"/wasm/bad:v1", "--root-path", notWasm, "-i")
	if r.err == nil || !strings.Contains(r.stderr, "not a WebAssembly binary") {
		t.Fatalf("pushing a shell script: err %v, stderr %q", r.err, r.stderr)
	}
	if r := run(t, "", env, tool(t, "regctl"), "tag", "ls", host+"/wasm/bad"); r.err == nil && strings.TrimSpace(r.stdout) != "" {
		t.Fatalf("a refused push left tags: %q", r.stdout)
	}
	// TLS is the default: without -i, a plain-HTTP registry is not silently spoken to.
	if r := run(t, "", env, stuffedBin, "pull", "--reference", ref, "-o", filepath.Join(pullDir, "x")); r.err == nil {
		t.Fatal("pull without -i from a plain-HTTP registry succeeded")
	}
}

// TestMountServesWhatPeersPushed: artifacts pushed by oras, regctl and stuffedfs in every
// layout DESIGN.md §3 lists read through the mount as component.wasm; stat never downloads;
// Wasm runtimes run them straight from the mount.
func TestMountServesWhatPeersPushed(t *testing.T) {
	host := startRegistry(t)
	env := toolEnv(t, host)
	comp, core := fixture(t, componentFile), fixture(t, coreFile)
	work := t.TempDir()
	for _, f := range []string{comp, core} {
		b, _ := os.ReadFile(f)
		os.WriteFile(filepath.Join(work, filepath.Base(f)), b, 0o644)
	}
	oras, regctl := tool(t, "oras"), tool(t, "regctl")
	expect := map[string]string{} // mount path -> fixture

	// oras push of a plain .wasm file: default layer media type, title ends .wasm.
	must(t, work, env, oras, "push", "--plain-http", host+"/peers/oras-plain:v1", coreFile)
	expect["peers/oras-plain/v1"] = core
	for repo, mt := range map[string]string{
		"peers/spin":      "application/vnd.wasm.content.layer.v1+wasm",
		"peers/wasmcloud": "application/vnd.module.wasm.content.layer.v1+wasm",
		"peers/seed":      "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm",
		"peers/cncf":      "application/wasm",
	} {
		must(t, work, env, oras, "push", "--plain-http", "--artifact-type", "application/vnd.wasm.config.v0+json",
			host+"/"+repo+":v1", componentFile+":"+mt)
		expect[repo+"/v1"] = comp
	}
	must(t, work, env, regctl, "artifact", "put", "--artifact-type", "application/vnd.wasm.config.v0+json",
		"--file", coreFile, "--file-media-type", "application/wasm", host+"/peers/regctl:v1")
	expect["peers/regctl/v1"] = core
	must(t, "", env, stuffedBin, "push", "--reference", host+"/wasm/hello:v1", "--root-path", comp, "-i")
	expect["wasm/hello/v1"] = comp
	must(t, "", env, stuffedBin, "push", "--reference", host+"/wasm/hello:core", "--root-path", core, "-i")
	expect["wasm/hello/core"] = core

	// An image index whose wasm/wasip2 entry is the component; a linux/amd64 decoy first.
	indexRef := putIndex(t, env, host, "peers/index", map[string]string{
		"linux/amd64": host + "/wasm/hello:core",
		"wasip2/wasm": host + "/wasm/hello:v1",
	})
	expect[indexRef] = comp

	proxy := testreg.NewProxyTo(t, "http://"+host)
	m := mountBinary(t, nil, "--registry", proxy.Host, "-i", "--cache-dir", t.TempDir())

	// ls, stat and find: every size from manifests, no blob downloaded.
	find := must(t, "", nil, "find", m.dir, "-name", "component.wasm")
	for path, f := range expect {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(m.dir, path, "component.wasm")
		if !strings.Contains(find, file+"\n") {
			t.Errorf("find does not list %s:\n%s", file, find)
		}
		size := strings.TrimSpace(must(t, "", nil, "stat", "-c", "%s", file))
		if size != strconv.FormatInt(fi.Size(), 10) {
			t.Errorf("stat %s: size %s, want %d", path, size, fi.Size())
		}
	}
	must(t, "", nil, "ls", "-lR", m.dir)
	if n := proxy.Count("GET blob"); n != 0 {
		t.Fatalf("ls, stat and find made %d blob GETs, want 0", n)
	}
	// cat and cmp: every artifact reads back as the file that was pushed.
	for path, f := range expect {
		file := filepath.Join(m.dir, path, "component.wasm")
		must(t, "", nil, "cmp", file, f)
		catOut := must(t, "", nil, "cat", file)
		if want, _ := os.ReadFile(f); catOut != string(want) {
			t.Errorf("cat %s: other bytes", path)
		}
	}
	gets := proxy.Count("GET blob")
	if gets < 2 || gets > len(expect) {
		t.Fatalf("%d blob GETs for %d artifacts of 2 distinct blobs", gets, len(expect))
	}

	// Wasm runtimes load straight from the mount.
	if out := must(t, "", nil, tool(t, "wazero"), "run", filepath.Join(m.dir, "wasm/hello/core/component.wasm")); out != hello {
		t.Errorf("wazero run printed %q", out)
	}
	if out := must(t, "", nil, tool(t, "jco"), "run", filepath.Join(m.dir, "wasm/hello/v1/component.wasm")); out != hello {
		t.Errorf("jco run printed %q", out)
	}
	if n := proxy.Count("GET blob"); n != gets {
		t.Fatalf("running cached components made %d more blob GETs", n-gets)
	}

	// Refused writes on a read-only tag file.
	r := run(t, "", nil, "sh", "-c", "echo x >> "+filepath.Join(m.dir, "wasm/hello/v1/component.wasm"))
	if r.err == nil {
		t.Error("appending to component.wasm succeeded")
	}
	m.stop(t)
}

// putIndex writes an OCI image index of the given platform -> manifest references and
// returns its mount path (repo/tag).
func putIndex(t *testing.T, env []string, host, repo string, entries map[string]string) string {
	t.Helper()
	type desc struct {
		MediaType string            `json:"mediaType"`
		Digest    string            `json:"digest"`
		Size      int               `json:"size"`
		Platform  map[string]string `json:"platform"`
	}
	var manifests []desc
	keys := make([]string, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
	slices.Sort(keys) // linux/amd64 first: the decoy comes before the wasm entry
	for _, plat := range keys {
		src := entries[plat]
		raw := must(t, "", env, tool(t, "regctl"), "manifest", "get", src, "--format", "raw-body")
		s := sha256.Sum256([]byte(raw))
		dgst := "sha256:" + hex.EncodeToString(s[:])
		// Copy the child into the index's repository (blobs first, then the manifest).
		must(t, "", env, tool(t, "regctl"), "image", "copy", src, host+"/"+repo+"@"+dgst)
		os_, arch, _ := strings.Cut(plat, "/")
		manifests = append(manifests, desc{
			MediaType: "application/vnd.oci.image.manifest.v1+json",
			Digest:    dgst, Size: len(raw),
			Platform: map[string]string{"os": os_, "architecture": arch},
		})
	}
	body, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     manifests,
	})
	req, _ := http.NewRequest("PUT", "http://"+host+"/v2/"+repo+"/manifests/multi", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/vnd.oci.image.index.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT index: %s", resp.Status)
	}
	return repo + "/multi"
}

// TestLocalStoreNeedsNoServer: with no --registry, push and mount work on the embedded
// OCI layout store, and regctl and oras read what it wrote.
func TestLocalStoreNeedsNoServer(t *testing.T) {
	data := t.TempDir()
	env := []string{"XDG_DATA_HOME=" + data, "XDG_CACHE_HOME=" + t.TempDir()}
	comp := fixture(t, componentFile)
	out := must(t, "", env, stuffedBin, "push", "--reference", "wasm/hello:v1", "--root-path", comp)
	if !strings.HasPrefix(out, "pushed: wasm/hello:v1 with digest: "+sha256Hex(t, comp)) {
		t.Fatalf("push printed %q", out)
	}
	layout := filepath.Join(data, "stuffed", "wasm", "hello")
	tenv := append(toolEnv(t, ""), env...)
	raw := must(t, "", tenv, tool(t, "regctl"), "manifest", "get", "ocidir://"+layout+":v1", "--format", "raw-body")
	if !strings.Contains(raw, "application/vnd.wasm.config.v0+json") {
		t.Fatalf("regctl reads the local store: %s", raw)
	}
	orasDir := t.TempDir()
	must(t, "", tenv, tool(t, "oras"), "pull", "--oci-layout", layout+":v1", "-o", orasDir)
	must(t, "", nil, "cmp", filepath.Join(orasDir, componentFile), comp)

	m := mountBinary(t, env)
	file := filepath.Join(m.dir, "wasm/hello/v1/component.wasm")
	must(t, "", nil, "cmp", file, comp)
	if out := must(t, "", nil, tool(t, "jco"), "run", file); out != hello {
		t.Errorf("jco run printed %q", out)
	}
	pullDir := t.TempDir()
	must(t, pullDir, env, stuffedBin, "pull", "--reference", "wasm/hello:v1")
	must(t, "", nil, "cmp", filepath.Join(pullDir, "sha256-"+sha256Hex(t, comp)), comp)
}

// TestExternalUmountEndsTheProcess: `umount DIR` makes stuffedfs exit 0.
func TestExternalUmountEndsTheProcess(t *testing.T) {
	env := []string{"XDG_DATA_HOME=" + t.TempDir(), "XDG_CACHE_HOME=" + t.TempDir()}
	m := mountBinary(t, env)
	if err := syscall.Unmount(m.dir, 0); err != nil {
		t.Fatal(err)
	}
	m.wait(t)
}
