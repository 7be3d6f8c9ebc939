package fs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/stuffed-dev/stuffed/registry"
)

// tagDir is a tag ("wasm/hello/v1.0.0/") or a pinned digest ("wasm/hello/@sha256:<hex>/").
// It holds component.wasm, the artifact's Wasm layer (an artifact without one shows none),
// the files written into it during this mount (published as the tag on close), and, since a
// tag's path is also a repository path, any repositories and pending folders below it.
type tagDir struct {
	gofs.Inode
	noRename
	fs        *filesystem
	repo      string
	reference string // tag or sha256 digest
}

var (
	_ = (gofs.NodeLookuper)((*tagDir)(nil))
	_ = (gofs.NodeReaddirer)((*tagDir)(nil))
	_ = (gofs.NodeGetattrer)((*tagDir)(nil))
	_ = (gofs.NodeCreater)((*tagDir)(nil))
	_ = (gofs.NodeMkdirer)((*tagDir)(nil))
	_ = (gofs.NodeRmdirer)((*tagDir)(nil))
)

// path is the folder's path in the mount; a pending folder below it makes it a repository.
func (d *tagDir) path() string { return d.repo + "/" + d.reference }

func (d *tagDir) pinned() bool { return strings.HasPrefix(d.reference, "sha256:") }

func (d *tagDir) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.fs.dirAttr(&out.Attr)
	return 0
}

func (d *tagDir) what() string { return d.repo + ":" + d.reference }

func (d *tagDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	var names []string
	if !d.pinned() {
		var err error
		if names, err = d.fs.folderNames(ctx, d.path(), false); err != nil {
			return nil, toErrno(d.fs.log, "list "+d.path()+"/", err)
		}
	}
	entries := dirEntries(names)
	for _, name := range d.fs.created.names(d.repo, d.reference) {
		entries = append(entries, fuse.DirEntry{Name: name, Mode: fuse.S_IFREG})
	}
	_, err := d.fs.meta.Resolve(ctx, d.repo, d.reference)
	switch {
	case err == nil:
		if !slices.ContainsFunc(entries, func(e fuse.DirEntry) bool { return e.Name == ComponentName }) {
			entries = append(entries, fuse.DirEntry{Name: ComponentName, Mode: fuse.S_IFREG})
		}
	case errors.Is(err, registry.ErrNoWasmLayer):
		d.fs.log.Info("tag holds no Wasm layer", "tag", d.what(), "err", err)
	case errors.Is(err, registry.ErrNotFound) && (len(entries) > 0 || d.fs.pending.has(d.path())):
		// made with mkdir, or a repository path: nothing published as this tag (yet)
	default:
		return nil, toErrno(d.fs.log, "resolve "+d.what(), err)
	}
	return gofs.NewListDirStream(entries), 0
}

func (d *tagDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if f := d.fs.created.get(d.repo, d.reference, name); f != nil && name != ComponentName {
		f.writable.attr(&out.Attr, 0, d.fs)
		return d.NewInode(ctx, f, gofs.StableAttr{Mode: fuse.S_IFREG, Ino: f.ino}), 0
	}
	if name != ComponentName {
		if d.pinned() {
			return nil, syscall.ENOENT
		}
		return d.fs.lookupBelow(ctx, &d.Inode, d.path(), name, out, false)
	}
	art, err := d.fs.meta.Resolve(ctx, d.repo, d.reference)
	if err != nil {
		return nil, toErrno(d.fs.log, "resolve "+d.what(), err)
	}
	// One node per tag folder and digest: the node knows which tag a write retags, and a
	// retagged file is a new inode.
	f := &componentFile{fs: d.fs, repo: d.repo, reference: d.reference, layer: art.Layer}
	f.writable.attr(&out.Attr, art.Layer.Size, d.fs)
	return d.NewInode(ctx, f, gofs.StableAttr{Mode: fuse.S_IFREG, Ino: inoFor("blob", d.repo, d.reference, art.Layer.Digest)}), 0
}

// Create starts a new file whose bytes become the tag's Wasm layer on close.
func (d *tagDir) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	if d.pinned() {
		return nil, nil, 0, toErrno(d.fs.log, "create in "+d.what(), errPinned)
	}
	f := &newFile{fs: d.fs, repo: d.repo, tag: d.reference, name: name}
	f.writable.mode = mode & 0o777
	h, err := d.fs.openWriter(&f.writable, d.repo, d.reference, name, flags, false)
	if err != nil {
		return nil, nil, 0, toErrno(d.fs.log, "create "+d.what()+"/"+name, err)
	}
	f.ino = inoFor("new", d.repo, d.reference, name, h.staged.Name())
	if name != ComponentName {
		d.fs.created.add(d.repo, d.reference, name, f)
	}
	f.writable.attr(&out.Attr, 0, d.fs)
	return d.NewInode(ctx, f, gofs.StableAttr{Mode: fuse.S_IFREG, Ino: f.ino}), h, fuse.FOPEN_DIRECT_IO, 0
}

func (d *tagDir) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if d.pinned() {
		return nil, toErrno(d.fs.log, "mkdir in "+d.what(), errPinned)
	}
	return d.fs.mkdir(ctx, &d.Inode, d.path(), name, out)
}

func (d *tagDir) Rmdir(ctx context.Context, name string) syscall.Errno {
	return d.fs.pending.remove(d.path() + "/" + name)
}

var errPinned = fmt.Errorf("%w: a folder pinned by digest is immutable; write to a tag folder", syscall.EPERM)
