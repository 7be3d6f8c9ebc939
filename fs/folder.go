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

// folderNames lists the folders below path seen as a repository path: next components of
// known and pending repositories and, if path is a repository, its tags. A tag folder is also
// a repository path ("wasm/hello/v1" may hold the repository "wasm/hello/v1/x"): there always
// asks the registry for tags only when the catalog suggests path is a repository; a
// repository folder always asks (it may be unlisted).
func (fsys *filesystem) folderNames(ctx context.Context, path string, always bool) ([]string, error) {
	list, err := fsys.meta.Repos(ctx)
	if err != nil {
		return nil, err
	}
	names, listed := childrenOf(list.names, path)
	names = append(names, fsys.pending.children(path)...)
	if path != "" && (always || listed || !list.catalog) {
		tags, err := fsys.meta.Tags(ctx, path)
		switch {
		case err == nil:
			names = append(names, tags...)
		case errors.Is(err, registry.ErrNotFound) && !listed:
			// a namespace, not a repository
		default:
			return nil, err
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

func dirEntries(names []string) []fuse.DirEntry {
	entries := make([]fuse.DirEntry, 0, len(names))
	for _, n := range names {
		entries = append(entries, fuse.DirEntry{Name: n, Mode: fuse.S_IFDIR})
	}
	return entries
}

// lookupBelow finds the folder name below path: a digest-pinned folder, a tag (a tag wins
// over a sub-repository of the same name), a pending folder, or a repository path. A name the
// registry does not list may still be a repository (looked up by name) or, on a registry
// without a catalog and where namespaceOK, a namespace on the way to one.
func (fsys *filesystem) lookupBelow(ctx context.Context, parent *gofs.Inode, path, name string, out *fuse.EntryOut, namespaceOK bool) (*gofs.Inode, syscall.Errno) {
	if path != "" {
		if digest, ok := strings.CutPrefix(name, "@"); ok {
			if registry.CheckDigest(digest) != nil {
				return nil, syscall.ENOENT
			}
			if _, err := fsys.meta.Resolve(ctx, path, digest); err != nil {
				return nil, toErrno(fsys.log, "resolve "+path+"@"+digest, err)
			}
			return fsys.tagFolder(ctx, parent, path, digest, out), 0
		}
		if registry.CheckTag(name) == nil {
			tags, err := fsys.meta.Tags(ctx, path)
			if err != nil && !errors.Is(err, registry.ErrNotFound) {
				return nil, toErrno(fsys.log, "list tags of "+path, err)
			}
			if slices.Contains(tags, name) {
				return fsys.tagFolder(ctx, parent, path, name, out), 0
			}
		}
	}
	child := joinPath(path, name)
	if fsys.pending.has(child) {
		return fsys.pendingFolder(ctx, parent, path, name, out), 0
	}
	if registry.CheckRepoComponent(name) != nil {
		return nil, syscall.ENOENT
	}
	list, err := fsys.meta.Repos(ctx)
	if err != nil {
		return nil, toErrno(fsys.log, "list repositories", err)
	}
	if names, isRepo := childrenOf(list.names, child); !isRepo && len(names) == 0 {
		_, err := fsys.meta.Tags(ctx, child)
		switch {
		case err == nil:
		case errors.Is(err, registry.ErrNotFound) && !list.catalog && namespaceOK:
		default:
			return nil, toErrno(fsys.log, "look up repository "+child, err)
		}
	}
	return fsys.repoFolder(ctx, parent, child, out), 0
}
