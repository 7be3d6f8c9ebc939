package registry

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/regclient/regclient"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/manifest"
	"github.com/regclient/regclient/types/platform"
)

// Media types of the formats this tool writes and reads (DESIGN.md §3).
const (
	MediaTypeManifest     = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeWasmConfig   = "application/vnd.wasm.config.v0+json"
	MediaTypeWasmLayer    = "application/wasm"
	MediaTypeSeedArtifact = "application/vnd.bytecodealliance.component.v1+wasm"
	MediaTypeSeedConfig   = "application/vnd.oci.image.config.v1+json"
	MediaTypeSeedLayer    = "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm"
	annotationTitle       = "org.opencontainers.image.title"
)

// wasmLayerTypes are the layer media types that hold a Wasm binary, whatever the title.
var wasmLayerTypes = map[string]bool{
	MediaTypeWasmLayer:                                  true,
	MediaTypeSeedLayer:                                  true,
	"application/vnd.wasm.content.layer.v1+wasm":        true, // Spin, wasm-to-oci
	"application/vnd.module.wasm.content.layer.v1+wasm": true, // old wasmCloud
}

// maxManifestSize bounds a manifest or index read from a registry.
const maxManifestSize = 4 << 20

// Layer is the Wasm layer of an artifact: what the mount shows as component.wasm.
type Layer struct {
	Digest    string
	Size      int64
	MediaType string
}

// Artifact is a resolved tag or digest.
type Artifact struct {
	Repo           string
	Reference      string // the tag or digest asked for
	ManifestDigest string // the image manifest holding the layer (an index's child, if any)
	Layer          Layer
}

// Resolve fetches the manifest for a tag or digest of repo and finds its Wasm layer. For an
// image index it chooses the wasm/wasip2 platform entry, then wasm/wasip1, then any wasm one.
func (c *Client) Resolve(ctx context.Context, repo, reference string) (Artifact, error) {
	r, err := c.ref(repo, reference)
	if err != nil {
		return Artifact{}, err
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	m, err := c.rc.ManifestGet(ctx, r)
	if err != nil {
		return Artifact{}, fmt.Errorf("resolve %s: %w", r.CommonName(), classify(err))
	}
	if m.IsList() {
		child, err := wasmPlatformEntry(m)
		if err != nil {
			return Artifact{}, fmt.Errorf("resolve %s: %w", r.CommonName(), err)
		}
		cr := r.SetDigest(child.Digest.String())
		if m, err = c.rc.ManifestGet(ctx, cr, regclient.WithManifestDesc(child)); err != nil {
			return Artifact{}, fmt.Errorf("resolve %s: %w", cr.CommonName(), classify(err))
		}
	}
	img, ok := m.(manifest.Imager)
	if !ok {
		return Artifact{}, fmt.Errorf("resolve %s: %w: media type %s is not an image manifest",
			r.CommonName(), ErrNoWasmLayer, m.GetDescriptor().MediaType)
	}
	layers, err := img.GetLayers()
	if err != nil {
		return Artifact{}, fmt.Errorf("resolve %s: %w: %w", r.CommonName(), ErrInvalidFormat, err)
	}
	layer, err := wasmLayer(layers)
	if err != nil {
		return Artifact{}, fmt.Errorf("resolve %s: %w", r.CommonName(), err)
	}
	return Artifact{
		Repo:           repo,
		Reference:      reference,
		ManifestDigest: m.GetDescriptor().Digest.String(),
		Layer:          layer,
	}, nil
}

// wasmLayer chooses the layer holding the Wasm binary: a known Wasm media type first, else a
// layer titled *.wasm (a plain `oras push x.wasm`).
func wasmLayer(layers []descriptor.Descriptor) (Layer, error) {
	pick := -1
	for i, l := range layers {
		if wasmLayerTypes[l.MediaType] {
			pick = i
			break
		}
	}
	if pick < 0 {
		for i, l := range layers {
			if strings.HasSuffix(path.Base(l.Annotations[annotationTitle]), ".wasm") {
				pick = i
				break
			}
		}
	}
	if pick < 0 {
		return Layer{}, fmt.Errorf("%w among %d layers (media types %s, or a title ending .wasm)",
			ErrNoWasmLayer, len(layers), MediaTypeWasmLayer)
	}
	l := layers[pick]
	if err := CheckDigest(l.Digest.String()); err != nil {
		return Layer{}, fmt.Errorf("%w: layer digest: %w", ErrInvalidFormat, err)
	}
	if l.Size < 0 {
		return Layer{}, fmt.Errorf("%w: layer size %d", ErrInvalidFormat, l.Size)
	}
	return Layer{Digest: l.Digest.String(), Size: l.Size, MediaType: l.MediaType}, nil
}

// wasmPlatformEntry picks an image index entry for a Wasm platform.
func wasmPlatformEntry(m manifest.Manifest) (descriptor.Descriptor, error) {
	idx, ok := m.(manifest.Indexer)
	if !ok {
		return descriptor.Descriptor{}, fmt.Errorf("%w: index without a manifest list", ErrInvalidFormat)
	}
	list, err := idx.GetManifestList()
	if err != nil {
		return descriptor.Descriptor{}, fmt.Errorf("%w: %w", ErrInvalidFormat, err)
	}
	rank := func(p *platform.Platform) int {
		switch {
		case p == nil || p.Architecture != "wasm":
			return 0
		case p.OS == "wasip2":
			return 3
		case p.OS == "wasip1":
			return 2
		}
		return 1
	}
	best, bestRank := -1, 0
	for i, d := range list {
		if r := rank(d.Platform); r > bestRank {
			best, bestRank = i, r
		}
	}
	if best < 0 {
		return descriptor.Descriptor{}, fmt.Errorf("%w: the image index has no wasm platform entry", ErrNoWasmLayer)
	}
	return list[best], nil
}
