package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/manifest"
	v1 "github.com/regclient/regclient/types/oci/v1"
	"github.com/regclient/regclient/types/ref"
)

// Format is the artifact layout a push writes.
type Format string

const (
	// FormatWasm is the CNCF TAG-Runtime Wasm OCI Artifact layout (wkg, wash, runwasi).
	FormatWasm Format = "wasm"
	// FormatSeed is the original stuffed tool's layout.
	FormatSeed Format = "seed"
)

// ParseFormat checks a --format value.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case FormatWasm, FormatSeed:
		return Format(s), nil
	}
	return "", fmt.Errorf("%w: format %q: choose %q (CNCF Wasm artifact) or %q (the original stuffed layout)",
		ErrInvalidName, s, FormatWasm, FormatSeed)
}

// PushOptions says how to build the artifact.
type PushOptions struct {
	Format Format
	Title  string // the layer's title annotation, e.g. component.wasm
}

// PushResult names what a push wrote.
type PushResult struct {
	Layer          Layer
	ManifestDigest string
	Info           WasmInfo
}

// wasmConfig is the CNCF Wasm artifact config (application/vnd.wasm.config.v0+json).
type wasmConfig struct {
	Created      string           `json:"created"`
	Architecture string           `json:"architecture"`
	OS           string           `json:"os"`
	LayerDigests []string         `json:"layerDigests"`
	Component    *componentConfig `json:"component,omitempty"`
}

type componentConfig struct {
	Imports []string `json:"imports"`
	Exports []string `json:"exports"`
}

// seedConfig is the original tool's config, a minimal OCI image config.
type seedConfig struct {
	Created      string `json:"created"`
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	RootFS       struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// Push publishes the Wasm binary in file as repo:tag. It uploads the layer blob, then the
// config, then the manifest last, so the tag never points at missing data; on error the tag
// is left as it was. Non-Wasm bytes are refused before anything is sent.
func (c *Client) Push(ctx context.Context, repo, tag string, file *os.File, opts PushOptions) (PushResult, error) {
	if err := CheckTag(tag); err != nil {
		return PushResult{}, fmt.Errorf("push %s: a push names a tag: %w", repo, err)
	}
	r, err := c.ref(repo, tag)
	if err != nil {
		return PushResult{}, err
	}
	defer c.locks.lock(repoOf(r) + ":" + tag)()
	if opts.Format == "" {
		opts.Format = FormatWasm
	}
	if opts.Title == "" {
		opts.Title = "component.wasm"
	}
	info, layer, err := describeFile(file)
	if err != nil {
		return PushResult{}, fmt.Errorf("push %s: %w", r.CommonName(), err)
	}
	layer.MediaType = MediaTypeWasmLayer
	if opts.Format == FormatSeed {
		layer.MediaType = MediaTypeSeedLayer
	}
	created := time.Now().UTC().Format(time.RFC3339)
	configType, configBody, err := buildConfig(opts.Format, info, layer, created)
	if err != nil {
		return PushResult{}, err
	}

	// Big layers get more time: the deadline assumes at least 1 MiB/s.
	blobCtx, cancel := context.WithTimeout(ctx, c.timeout+time.Duration(layer.Size>>20)*time.Second)
	defer cancel()
	layerDesc := descriptor.Descriptor{
		MediaType:   layer.MediaType,
		Digest:      digest.Digest(layer.Digest),
		Size:        layer.Size,
		Annotations: map[string]string{annotationTitle: opts.Title},
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return PushResult{}, err
	}
	if err := c.putBlob(blobCtx, r, layerDesc, file); err != nil {
		return PushResult{}, fmt.Errorf("push %s: upload layer %s: %w", r.CommonName(), layer.Digest, classify(err))
	}

	ctx, cancel = c.withTimeout(ctx)
	defer cancel()
	configDesc := descriptor.Descriptor{
		MediaType: configType,
		Digest:    digest.FromBytes(configBody),
		Size:      int64(len(configBody)),
	}
	if err := c.putBlob(ctx, r, configDesc, bytes.NewReader(configBody)); err != nil {
		return PushResult{}, fmt.Errorf("push %s: upload config: %w", r.CommonName(), classify(err))
	}
	m := v1.Manifest{
		Versioned:   v1.ManifestSchemaVersion,
		MediaType:   MediaTypeManifest,
		Config:      configDesc,
		Layers:      []descriptor.Descriptor{layerDesc},
		Annotations: map[string]string{"org.opencontainers.image.created": created},
	}
	if opts.Format == FormatSeed {
		m.ArtifactType = MediaTypeSeedArtifact
	}
	mm, err := manifest.New(manifest.WithOrig(m))
	if err != nil {
		return PushResult{}, fmt.Errorf("push %s: build manifest: %w", r.CommonName(), err)
	}
	unlock := c.locks.lock(repoOf(r) + "@" + mm.GetDescriptor().Digest.String())
	err = c.rc.ManifestPut(ctx, r, mm)
	unlock()
	if err != nil {
		return PushResult{}, fmt.Errorf("push %s: put manifest: %w", r.CommonName(), classify(err))
	}
	return PushResult{Layer: layer, ManifestDigest: mm.GetDescriptor().Digest.String(), Info: info}, nil
}

// keyedMutex is a mutex per key; a key's entry lives only while someone holds or awaits it.
//
// A Client takes two kinds of keys. "repo:tag": pushes of one tag take turns, so the last
// to start is the last to land. "repo@digest": uploads of one content (blob or manifest) to
// one repository take turns, because tags pushed in parallel often share content (the same
// component, configs and manifests identical to the second) and CNCF Distribution 2.8
// answers a manifest PUT with "blob unknown" or "digest invalid" while a second upload of
// the same content is being committed (its filesystem driver rewrites files in place).
// A tag lock may be held while taking content locks, never the other way round.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedLock
}

type keyedLock struct {
	sync.Mutex
	refs int // holders and waiters
}

// lock takes key's mutex and returns its unlock.
func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyedLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyedLock{}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}

// repoOf names the repository of r, without tag or digest.
func repoOf(r ref.Ref) string {
	return r.SetTag("").CommonName()
}

// putBlob uploads a blob unless the repository has it already.
func (c *Client) putBlob(ctx context.Context, r ref.Ref, d descriptor.Descriptor, body io.Reader) error {
	defer c.locks.lock(repoOf(r) + "@" + d.Digest.String())()
	if head, err := c.rc.BlobHead(ctx, r, d); err == nil {
		head.Close()
		return nil
	}
	_, err := c.rc.BlobPut(ctx, r, d, body)
	return err
}

// describeFile reads file once: its Wasm kind, a component's imports and exports, its size
// and sha256 digest.
func describeFile(file *os.File) (WasmInfo, Layer, error) {
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return WasmInfo{}, Layer{}, err
	}
	h := sha256.New()
	counted := &countingReader{r: io.TeeReader(file, h)}
	info, err := InspectWasm(counted)
	if err != nil {
		return WasmInfo{}, Layer{}, err
	}
	if _, err := io.Copy(io.Discard, counted); err != nil {
		return WasmInfo{}, Layer{}, err
	}
	return info, Layer{Digest: "sha256:" + hex.EncodeToString(h.Sum(nil)), Size: counted.n}, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func buildConfig(f Format, info WasmInfo, layer Layer, created string) (string, []byte, error) {
	var v any
	mediaType := MediaTypeWasmConfig
	switch f {
	case FormatSeed:
		sc := seedConfig{Created: created, Architecture: "wasm", OS: info.OS()}
		sc.RootFS.Type = "layers"
		sc.RootFS.DiffIDs = []string{layer.Digest}
		v, mediaType = sc, MediaTypeSeedConfig
	default:
		wc := wasmConfig{Created: created, Architecture: "wasm", OS: info.OS(), LayerDigests: []string{layer.Digest}}
		if info.Kind == KindComponent {
			wc.Component = &componentConfig{Imports: nonNil(info.Imports), Exports: nonNil(info.Exports)}
		}
		v = wc
	}
	body, err := json.Marshal(v)
	return mediaType, body, err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
