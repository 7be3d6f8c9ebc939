package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// repoDir is a folder on a repository path: the root (""), a namespace ("wasm") or a
// repository ("wasm/hello"), which may also hold sub-repositories. It lists the next path
// components of known repositories and, for a repository, its tags (folder.go).
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
	names, err := d.fs.folderNames(ctx, d.prefix, true)
	if err != nil {
		return nil, toErrno(d.fs.log, "list "+d.prefix+"/", err)
	}
	return gofs.NewListDirStream(dirEntries(names)), 0
}

func (d *repoDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return d.fs.lookupBelow(ctx, &d.Inode, d.prefix, name, out, true)
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
