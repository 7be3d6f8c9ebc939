package fs

import (
	"context"
	"slices"
	"strings"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// newFile is a file created in a tag folder ("wasm/new/v2/app.wasm", from `cp app.wasm
// MNT/wasm/new/v2/`). Its bytes are published as the tag's Wasm layer, titled with its name,
// when it is closed; afterwards the tag folder shows them as component.wasm.
type newFile struct {
	gofs.Inode
	writable
	fs   *filesystem
	repo string
	tag  string
	name string
	ino  uint64
}

// createdFiles remembers the files written into tag folders during this mount, by name:
// `install` and `shutil.copy` chmod the path after close, and `ls` should show what `cp` made.
// component.wasm is not kept: it always shows the tag's published layer.
type createdFiles struct {
	mu    sync.Mutex
	files map[string]*newFile // "repo:tag/name"
}

func (c *createdFiles) add(repo, tag, name string, f *newFile) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.files == nil {
		c.files = map[string]*newFile{}
	}
	c.files[repo+":"+tag+"/"+name] = f
}

func (c *createdFiles) get(repo, tag, name string) *newFile {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.files[repo+":"+tag+"/"+name]
}

func (c *createdFiles) names(repo, tag string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var names []string
	for key := range c.files {
		if name, ok := strings.CutPrefix(key, repo+":"+tag+"/"); ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

var (
	_ = (gofs.NodeGetattrer)((*newFile)(nil))
	_ = (gofs.NodeSetattrer)((*newFile)(nil))
	_ = (gofs.NodeOpener)((*newFile)(nil))
)

func (f *newFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	f.writable.attr(&out.Attr, 0, f.fs)
	return 0
}

func (f *newFile) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if err := f.writable.setattr(fh, in); err != nil {
		return toErrno(f.fs.log, "setattr "+f.repo+":"+f.tag+"/"+f.name, err)
	}
	f.writable.attr(&out.Attr, 0, f.fs)
	return 0
}

// Open opens the file again: for writing, to replace what it holds; for reading, what was
// published from it.
func (f *newFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if isWrite(flags) {
		h, err := f.fs.openWriter(&f.writable, f.repo, f.tag, f.name, flags, true)
		if err != nil {
			return nil, 0, toErrno(f.fs.log, "open "+f.repo+":"+f.tag+"/"+f.name, err)
		}
		return h, fuse.FOPEN_DIRECT_IO, 0
	}
	f.writable.mu.Lock()
	published := f.writable.published
	f.writable.mu.Unlock()
	if published == nil {
		return nil, 0, syscall.ENOENT
	}
	return &componentHandle{fs: f.fs, repo: f.repo, layer: *published}, fuse.FOPEN_KEEP_CACHE, 0
}

func isWrite(flags uint32) bool {
	return flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0
}
