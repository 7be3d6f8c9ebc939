package fs

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/stuffed-dev/stuffed/registry"
)

// pending holds the folders made with mkdir that the registry does not know yet: the way to a
// tag that is about to be published ("wasm", "wasm/new", "wasm/new/v2"). They last until the
// process ends, rmdir, or a push under them makes them real.
type pending struct {
	mu    sync.Mutex
	paths map[string]bool
}

func (p *pending) add(path string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paths == nil {
		p.paths = map[string]bool{}
	}
	p.paths[path] = true
}

func (p *pending) has(path string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paths[path]
}

// children lists the next components of pending folders below dir ("" for the root).
func (p *pending) children(dir string) []string {
	p.mu.Lock()
	names := make([]string, 0, len(p.paths))
	for path := range p.paths {
		names = append(names, path)
	}
	p.mu.Unlock()
	children, _ := childrenOf(names, dir)
	return children
}

// remove drops one pending folder (rmdir); a folder with pending children stays.
func (p *pending) remove(path string) syscall.Errno {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.paths[path] {
		return syscall.EPERM
	}
	for other := range p.paths {
		if strings.HasPrefix(other, path+"/") {
			return syscall.ENOTEMPTY
		}
	}
	delete(p.paths, path)
	return 0
}

// published drops the pending folders on the way to a published tag path: they are real now.
func (p *pending) published(tagPath string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for path := range p.paths {
		if path == tagPath || strings.HasPrefix(tagPath, path+"/") {
			delete(p.paths, path)
		}
	}
}

// joinPath joins a folder path and a name ("" is the root).
func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// mkdir makes a pending folder name in the folder at dir. At the root it must be a
// repository name; below, a repository path component or a tag (the last folder of
// `mkdir -p MNT/<repo>/<tag>` is the tag).
func (fsys *filesystem) mkdir(ctx context.Context, parent *gofs.Inode, dir, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	path := joinPath(dir, name)
	var err error
	switch {
	case dir == "":
		err = registry.CheckRepoComponent(name)
	case registry.CheckTag(name) == nil:
		err = registry.CheckRepo(dir)
	default:
		if err = registry.CheckRepoComponent(name); err == nil {
			err = registry.CheckRepo(path)
		}
	}
	if err != nil {
		return nil, toErrno(fsys.log, fmt.Sprintf("mkdir %s (a repository path component is lowercase; a tag is [A-Za-z0-9_][A-Za-z0-9._-]{0,127})", path), err)
	}
	fsys.pending.add(path)
	return fsys.pendingFolder(ctx, parent, dir, name, out), 0
}

// pendingFolder makes the node for a pending folder: below the root, a name that is a valid
// tag is a tag folder (which can still hold pending folders of its own, should it turn out to
// be a repository); anything else is a repository folder.
func (fsys *filesystem) pendingFolder(ctx context.Context, parent *gofs.Inode, dir, name string, out *fuse.EntryOut) *gofs.Inode {
	if dir != "" && registry.CheckTag(name) == nil {
		return fsys.tagFolder(ctx, parent, dir, name, out)
	}
	return fsys.repoFolder(ctx, parent, joinPath(dir, name), out)
}

func (fsys *filesystem) tagFolder(ctx context.Context, parent *gofs.Inode, repo, reference string, out *fuse.EntryOut) *gofs.Inode {
	fsys.dirAttr(&out.Attr)
	node := &tagDir{fs: fsys, repo: repo, reference: reference}
	return parent.NewInode(ctx, node, gofs.StableAttr{Mode: fuse.S_IFDIR, Ino: inoFor("tag", repo, reference)})
}

func (fsys *filesystem) repoFolder(ctx context.Context, parent *gofs.Inode, path string, out *fuse.EntryOut) *gofs.Inode {
	fsys.dirAttr(&out.Attr)
	node := &repoDir{fs: fsys, prefix: path}
	return parent.NewInode(ctx, node, gofs.StableAttr{Mode: fuse.S_IFDIR, Ino: inoFor("repo", path)})
}
