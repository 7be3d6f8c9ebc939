package fs

import (
	"context"
	"io"
	"strings"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/stuffed-dev/stuffed/cache"
	"github.com/stuffed-dev/stuffed/registry"
)

// componentFile is "wasm/hello/v1.0.0/component.wasm": one layer blob, immutable for its
// digest. Its size comes from the manifest; its bytes from the cache on the first read.
// Opened for writing (with O_TRUNC: cp, >, dd), it is replaced whole and the tag is retagged
// to the new bytes on close.
type componentFile struct {
	gofs.Inode
	writable
	fs        *filesystem
	repo      string
	reference string // the tag or digest of the folder
	layer     registry.Layer
}

var (
	_ = (gofs.NodeGetattrer)((*componentFile)(nil))
	_ = (gofs.NodeSetattrer)((*componentFile)(nil))
	_ = (gofs.NodeOpener)((*componentFile)(nil))
)

func (f *componentFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	f.writable.attr(&out.Attr, f.layer.Size, f.fs)
	return 0
}

func (f *componentFile) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if err := f.writable.setattr(fh, in); err != nil {
		return toErrno(f.fs.log, "setattr "+f.repo+":"+f.reference+"/"+ComponentName, err)
	}
	f.writable.attr(&out.Attr, f.layer.Size, f.fs)
	return 0
}

func (f *componentFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if isWrite(flags) {
		if strings.HasPrefix(f.reference, "sha256:") {
			return nil, 0, toErrno(f.fs.log, "open "+f.repo+"@"+f.reference+" for writing", errPinned)
		}
		h, err := f.fs.openWriter(&f.writable, f.repo, f.reference, ComponentName, flags, true)
		if err != nil {
			return nil, 0, toErrno(f.fs.log, "open "+f.repo+":"+f.reference+" for writing", err)
		}
		return h, fuse.FOPEN_DIRECT_IO, 0
	}
	// The bytes of a digest never change: let the kernel keep its page cache across opens.
	return &componentHandle{fs: f.fs, repo: f.repo, layer: f.layer}, fuse.FOPEN_KEEP_CACHE, 0
}

// componentHandle is an open, published layer. The blob is fetched (or found in the cache)
// on the first read and pinned until release.
type componentHandle struct {
	fs    *filesystem
	repo  string
	layer registry.Layer
	mu    sync.Mutex
	blob  *cache.Blob
}

var (
	_ = (gofs.FileReader)((*componentHandle)(nil))
	_ = (gofs.FileReleaser)((*componentHandle)(nil))
)

func (h *componentHandle) get(ctx context.Context) (*cache.Blob, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.blob != nil {
		return h.blob, nil
	}
	fetch := func(ctx context.Context) (io.ReadCloser, error) {
		return h.fs.reg.OpenBlob(ctx, h.repo, h.layer.Digest, h.layer.Size)
	}
	b, err := h.fs.cache.Get(ctx, h.layer.Digest, h.layer.Size, fetch)
	if err != nil {
		return nil, err
	}
	h.blob = b
	return b, nil
}

func (h *componentHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if off >= h.layer.Size {
		return fuse.ReadResultData(nil), 0
	}
	b, err := h.get(ctx)
	if err != nil {
		return nil, toErrno(h.fs.log, "read "+h.repo+"@"+h.layer.Digest, err)
	}
	// Served from the verified file without a copy through this process (splice when the
	// kernel allows it); the blob stays open, pinned, until release.
	return fuse.ReadResultFd(b.Fd(), off, min(len(dest), int(h.layer.Size-off))), 0
}

func (h *componentHandle) Release(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.blob != nil {
		h.blob.Close()
		h.blob = nil
	}
	return 0
}

// Extended attributes name what the file is in the registry, for scripts:
// `getfattr -n user.oci.layer.digest component.wasm`.
const (
	xattrLayerDigest    = "user.oci.layer.digest"
	xattrLayerMediaType = "user.oci.layer.mediatype"
)

var (
	_ = (gofs.NodeGetxattrer)((*componentFile)(nil))
	_ = (gofs.NodeListxattrer)((*componentFile)(nil))
)

func (f *componentFile) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	var v string
	switch attr {
	case xattrLayerDigest:
		v = f.layer.Digest
	case xattrLayerMediaType:
		v = f.layer.MediaType
	default:
		return 0, syscall.ENODATA
	}
	return copyXattr(dest, v)
}

func (f *componentFile) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return copyXattr(dest, xattrLayerDigest+"\x00"+xattrLayerMediaType+"\x00")
}

// copyXattr answers with v, or its size when dest is empty (the caller asks how much room).
func copyXattr(dest []byte, v string) (uint32, syscall.Errno) {
	if len(dest) == 0 {
		return uint32(len(v)), 0
	}
	if len(dest) < len(v) {
		return uint32(len(v)), syscall.ERANGE
	}
	return uint32(copy(dest, v)), 0
}
