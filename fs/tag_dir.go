package fs

import (
	"context"
	"errors"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/stuffed-dev/stuffed/registry"
)

// tagDir is a tag ("wasm/hello/v1.0.0/") or a pinned digest ("wasm/hello/@sha256:<hex>/").
// It holds component.wasm, the artifact's Wasm layer; an artifact without one is empty.
type tagDir struct {
	gofs.Inode
	fs        *filesystem
	repo      string
	reference string // tag or sha256 digest
}

var (
	_ = (gofs.NodeLookuper)((*tagDir)(nil))
	_ = (gofs.NodeReaddirer)((*tagDir)(nil))
	_ = (gofs.NodeGetattrer)((*tagDir)(nil))
)

func (d *tagDir) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	dirAttr(&out.Attr, d.fs.start)
	return 0
}

func (d *tagDir) what() string { return d.repo + ":" + d.reference }

func (d *tagDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	_, err := d.fs.meta.Resolve(ctx, d.repo, d.reference)
	if errors.Is(err, registry.ErrNoWasmLayer) {
		d.fs.log.Info("tag holds no Wasm layer", "tag", d.what(), "err", err)
		return gofs.NewListDirStream(nil), 0
	}
	if err != nil {
		return nil, toErrno(d.fs.log, "resolve "+d.what(), err)
	}
	return gofs.NewListDirStream([]fuse.DirEntry{{Name: ComponentName, Mode: fuse.S_IFREG}}), 0
}

func (d *tagDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if name != ComponentName {
		return nil, syscall.ENOENT
	}
	art, err := d.fs.meta.Resolve(ctx, d.repo, d.reference)
	if err != nil {
		return nil, toErrno(d.fs.log, "resolve "+d.what(), err)
	}
	f := &componentFile{fs: d.fs, repo: d.repo, layer: art.Layer}
	f.attr(&out.Attr)
	return d.NewInode(ctx, f, gofs.StableAttr{Mode: fuse.S_IFREG, Ino: inoFor("blob", d.repo, art.Layer.Digest)}), 0
}
