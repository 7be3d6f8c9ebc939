package fs

import (
	"context"
	"io"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/stuffed-dev/stuffed/cache"
	"github.com/stuffed-dev/stuffed/registry"
)

// componentFile is "wasm/hello/v1.0.0/component.wasm": one layer blob, immutable for its
// digest. Its size comes from the manifest; its bytes from the cache on the first read.
type componentFile struct {
	gofs.Inode
	fs    *filesystem
	repo  string
	layer registry.Layer
}

var (
	_ = (gofs.NodeGetattrer)((*componentFile)(nil))
	_ = (gofs.NodeOpener)((*componentFile)(nil))
)

func (f *componentFile) attr(out *fuse.Attr) {
	out.Mode = 0o444 | syscall.S_IFREG
	out.Nlink = 1
	out.Size = uint64(f.layer.Size)
	out.Blocks = (out.Size + 511) / 512
	out.Blksize = 128 << 10
	setTimes(out, f.fs.start)
}

func (f *componentFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	f.attr(&out.Attr)
	return 0
}

func (f *componentFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		return nil, 0, syscall.EROFS
	}
	// The bytes of a digest never change: let the kernel keep its page cache across opens.
	return &componentHandle{file: f}, fuse.FOPEN_KEEP_CACHE, 0
}

// componentHandle is an open component.wasm. The blob is fetched (or found in the cache) on
// the first read and pinned until release.
type componentHandle struct {
	file *componentFile
	mu   sync.Mutex
	blob *cache.Blob
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
	f := h.file
	fetch := func(ctx context.Context) (io.ReadCloser, error) {
		return f.fs.reg.OpenBlob(ctx, f.repo, f.layer.Digest, f.layer.Size)
	}
	b, err := f.fs.cache.Get(ctx, f.layer.Digest, f.layer.Size, fetch)
	if err != nil {
		return nil, err
	}
	h.blob = b
	return b, nil
}

func (h *componentHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if off >= h.file.layer.Size {
		return fuse.ReadResultData(nil), 0
	}
	b, err := h.get(ctx)
	if err != nil {
		return nil, toErrno(h.file.fs.log, "read "+h.file.repo+"@"+h.file.layer.Digest, err)
	}
	n, err := b.ReadAt(dest, off)
	if err != nil && err != io.EOF {
		return nil, toErrno(h.file.fs.log, "read cached "+h.file.layer.Digest, err)
	}
	return fuse.ReadResultData(dest[:n]), 0
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
