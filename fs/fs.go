// Package fs shows a registry as a folder tree of Wasm components, through go-fuse.
//
//	MNT/                               repoDir (prefix "")
//	MNT/wasm/                          repoDir (prefix "wasm"): sub-repositories and, if
//	                                   "wasm" is a repository itself, its tags
//	MNT/wasm/hello/v1.0.0/             tagDir (tag)
//	MNT/wasm/hello/@sha256:<hex>/      tagDir (digest; looked up on demand, never listed)
//	MNT/wasm/hello/v1.0.0/component.wasm  componentFile: the artifact's Wasm layer
//
// Listings and sizes come from manifests (meta.go); file bytes come from the cache, which
// fetches a blob on the first read and verifies it before serving a byte. Errors become
// errnos in errno.go only. This package knows nothing of HTTP or regclient: it talks to
// registry.Client and cache.Cache.
package fs

import (
	"fmt"
	"hash/fnv"
	"log/slog"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/stuffed-dev/stuffed/cache"
	"github.com/stuffed-dev/stuffed/registry"
)

// ComponentName is the file a tag folder shows for the artifact's Wasm layer.
const ComponentName = "component.wasm"

// Options configure a mount.
type Options struct {
	Repos      []string      // repositories to list besides (or instead of) _catalog
	MetaTTL    time.Duration // how long listings and tag resolutions are trusted
	ReadOnly   bool
	AllowOther bool
	Log        *slog.Logger
	Debug      bool // log every FUSE request
}

// filesystem is what every node shares.
type filesystem struct {
	reg     *registry.Client
	cache   *cache.Cache
	meta    *meta
	pending pending
	created createdFiles
	log     *slog.Logger
	start   time.Time
	root    *repoDir
	perm    uint32 // 0o755 (0o555 read-only) for folders; files drop the x bits
}

// Mount mounts the registry at dir and returns the running server; the caller waits on it
// and unmounts it.
func Mount(dir string, reg *registry.Client, c *cache.Cache, opts Options) (*fuse.Server, error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.MetaTTL <= 0 {
		opts.MetaTTL = 5 * time.Second
	}
	fsys := &filesystem{
		reg:   reg,
		cache: c,
		meta:  newMeta(reg, opts.Repos, opts.MetaTTL, opts.Log),
		log:   opts.Log,
		start: time.Now(),
		perm:  0o755,
	}
	if opts.ReadOnly {
		fsys.perm = 0o555
	}
	root := &repoDir{fs: fsys}
	fsys.root = root
	ttl := opts.MetaTTL
	negative := time.Second
	mo := fuse.MountOptions{
		DirectMount:  true, // we run as root; go-fuse falls back to fusermount3 otherwise
		FsName:       "stuffed:" + reg.Location(),
		Name:         "stuffed",
		AllowOther:   opts.AllowOther,
		MaxReadAhead: 512 << 10,
		MaxWrite:     512 << 10, // 1 MiB makes go-fuse warn on every read (DESIGN.md §4)
		Debug:        opts.Debug,
	}
	if opts.ReadOnly {
		mo.Options = append(mo.Options, "ro")
	}
	server, err := gofs.Mount(dir, root, &gofs.Options{
		MountOptions:    mo,
		EntryTimeout:    &ttl,
		AttrTimeout:     &ttl,
		NegativeTimeout: &negative,
	})
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	return server, nil
}

// inoFor derives a stable inode number from what a node is (a path, or repo plus digest),
// with the top bit set so it never meets go-fuse's automatic numbers or the root's 1.
func inoFor(kind string, parts ...string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(kind))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return h.Sum64() | 1<<63
}

func (fsys *filesystem) dirAttr(out *fuse.Attr) {
	out.Mode = fsys.perm | syscall.S_IFDIR
	out.Nlink = 2
	setTimes(out, fsys.start)
}

func setTimes(out *fuse.Attr, t time.Time) {
	out.SetTimes(&t, &t, &t)
}
