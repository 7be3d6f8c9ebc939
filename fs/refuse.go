package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// noRename answers the namespace changes a registry cannot express — rename, hard and
// symbolic links, deleting a tag or a file — with EPERM. Embedded in every folder node.
type noRename struct{ noXattr }

var (
	_ = (gofs.NodeRenamer)((*noRename)(nil))
	_ = (gofs.NodeLinker)((*noRename)(nil))
	_ = (gofs.NodeSymlinker)((*noRename)(nil))
	_ = (gofs.NodeUnlinker)((*noRename)(nil))
)

func (noRename) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	return syscall.EPERM
}

func (noRename) Link(ctx context.Context, target gofs.InodeEmbedder, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

func (noRename) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

func (noRename) Unlink(ctx context.Context, name string) syscall.Errno { return syscall.EPERM }

// noXattr refuses extended attributes with ENOTSUP, the answer cp -p and shutil.copy2 expect
// from a filesystem without them (go-fuse's default, ENODATA, makes cp -p fail).
type noXattr struct{}

var (
	_ = (gofs.NodeSetxattrer)((*noXattr)(nil))
	_ = (gofs.NodeRemovexattrer)((*noXattr)(nil))
)

func (noXattr) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return syscall.ENOTSUP
}

func (noXattr) Removexattr(ctx context.Context, attr string) syscall.Errno { return syscall.ENOTSUP }
