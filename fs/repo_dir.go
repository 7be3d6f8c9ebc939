package fs

import (
	"context"
	"errors"
	"slices"
	"strings"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/stuffed-dev/stuffed/registry"
)

// repoDir is a folder on a repository path: the root (""), a namespace ("wasm") or a
// repository ("wasm/hello"), which may also hold sub-repositories. It lists the next path
// components of known repositories and, for a repository, its tags. A tag and a
// sub-repository of the same name: the tag is shown.
type repoDir struct {
	gofs.Inode
	noRename
	fs     *filesystem
	prefix string
}

var (
	_ = (gofs.NodeLookuper)((*repoDir)(nil))
	_ = (gofs.NodeReaddirer)((*repoDir)(nil))
	_ = (gofs.NodeGetattrer)((*repoDir)(nil))
	_ = (gofs.NodeMkdirer)((*repoDir)(nil))
	_ = (gofs.NodeRmdirer)((*repoDir)(nil))
	_ = (gofs.NodeCreater)((*repoDir)(nil))
)

func (d *repoDir) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.fs.dirAttr(&out.Attr)
	return 0
}

func (d *repoDir) child(name string) string {
	if d.prefix == "" {
		return name
	}
	return d.prefix + "/" + name
}

func (d *repoDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	list, err := d.fs.meta.Repos(ctx)
	if err != nil {
		return nil, toErrno(d.fs.log, "list repositories", err)
	}
	names, listed := childrenOf(list.names, d.prefix)
	names = append(names, d.fs.pending.children(d.prefix)...)
	if d.prefix != "" {
		tags, err := d.fs.meta.Tags(ctx, d.prefix)
		switch {
		case err == nil:
			names = append(names, tags...)
		case errors.Is(err, registry.ErrNotFound) && !listed:
			// a namespace, not a repository
		default:
			return nil, toErrno(d.fs.log, "list tags of "+d.prefix, err)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	entries := make([]fuse.DirEntry, 0, len(names))
	for _, n := range names {
		entries = append(entries, fuse.DirEntry{Name: n, Mode: fuse.S_IFDIR})
	}
	return gofs.NewListDirStream(entries), 0
}

func (d *repoDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if d.prefix != "" {
		if digest, ok := strings.CutPrefix(name, "@"); ok {
			return d.lookupDigest(ctx, digest, out)
		}
		if registry.CheckTag(name) == nil {
			tags, err := d.fs.meta.Tags(ctx, d.prefix)
			if err != nil && !errors.Is(err, registry.ErrNotFound) {
				return nil, toErrno(d.fs.log, "list tags of "+d.prefix, err)
			}
			if slices.Contains(tags, name) {
				return d.fs.tagFolder(ctx, &d.Inode, d.prefix, name, out), 0
			}
		}
	}
	if d.fs.pending.has(d.child(name)) {
		return d.fs.pendingFolder(ctx, &d.Inode, d.prefix, name, out), 0
	}
	if registry.CheckRepoComponent(name) != nil {
		return nil, syscall.ENOENT
	}
	child := d.child(name)
	list, err := d.fs.meta.Repos(ctx)
	if err != nil {
		return nil, toErrno(d.fs.log, "list repositories", err)
	}
	if names, isRepo := childrenOf(list.names, child); !isRepo && len(names) == 0 {
		// Not listed: it may still be a repository the catalog does not show, or, on a
		// registry without a catalog, a namespace on the way to one.
		_, err := d.fs.meta.Tags(ctx, child)
		switch {
		case err == nil:
		case errors.Is(err, registry.ErrNotFound) && !list.catalog:
		default:
			return nil, toErrno(d.fs.log, "look up repository "+child, err)
		}
	}
	return d.fs.repoFolder(ctx, &d.Inode, child, out), 0
}

func (d *repoDir) lookupDigest(ctx context.Context, digest string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if registry.CheckDigest(digest) != nil {
		return nil, syscall.ENOENT
	}
	if _, err := d.fs.meta.Resolve(ctx, d.prefix, digest); err != nil {
		return nil, toErrno(d.fs.log, "resolve "+d.prefix+"@"+digest, err)
	}
	return d.fs.tagFolder(ctx, &d.Inode, d.prefix, digest, out), 0
}

func (d *repoDir) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return d.fs.mkdir(ctx, &d.Inode, d.prefix, name, out)
}

func (d *repoDir) Rmdir(ctx context.Context, name string) syscall.Errno {
	return d.fs.pending.remove(d.child(name))
}

// Create refuses files outside tag folders: only MNT/<repo>/<tag>/ publishes.
func (d *repoDir) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	d.fs.log.Warn("refused a file outside a tag folder: write to MNT/<repo>/<tag>/ (mkdir -p it first)",
		"path", d.child(name), "errno", syscall.EPERM.Error())
	return nil, nil, 0, syscall.EPERM
}
