package fs

// Lock order: writeHandle.mu, then writable.mu; meta.mu and pending.mu are taken alone.
// Pushes of one tag take turns inside registry.Client.Push.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/stuffed-dev/stuffed/registry"
)

// writeHandle is a file open for writing under a tag folder. Bytes are staged in a file on
// the cache's disk; the first Flush (close) after new writes publishes them as the tag's Wasm
// layer. Flush runs on every close, dup and fork, so a push happens only when there are
// unpublished writes; Release publishes what no Flush did, and removes the staged file.
type writeHandle struct {
	fs    *filesystem
	node  *writable
	repo  string
	tag   string
	title string

	size atomic.Int64 // read without mu: stat must not wait for a push

	mu       sync.Mutex
	staged   *os.File
	dirty    bool // written since the last push attempt (so no Flush has pushed it)
	readOnly bool // opened without O_TRUNC over existing content: writes refused until truncated to 0
}

var (
	_ = (gofs.FileWriter)((*writeHandle)(nil))
	_ = (gofs.FileReader)((*writeHandle)(nil))
	_ = (gofs.FileFlusher)((*writeHandle)(nil))
	_ = (gofs.FileReleaser)((*writeHandle)(nil))
	_ = (gofs.FileFsyncer)((*writeHandle)(nil))
)

func (h *writeHandle) what() string { return h.repo + ":" + h.tag + " (" + h.title + ")" }

func (h *writeHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.readOnly {
		return 0, toErrno(h.fs.log, "write "+h.what(), fmt.Errorf("%w: an existing component can only be replaced whole: open it with O_TRUNC", syscall.ENOTSUP))
	}
	if size := h.size.Load(); off != size {
		return 0, toErrno(h.fs.log, "write "+h.what(), fmt.Errorf("%w: write at offset %d, but %d bytes are written: only sequential writes from offset 0 are supported", syscall.ENOTSUP, off, size))
	}
	n, err := h.staged.WriteAt(data, off)
	h.size.Add(int64(n))
	if n > 0 {
		h.dirty = true
		h.node.touch()
	}
	if err != nil {
		return uint32(n), toErrno(h.fs.log, "stage "+h.what(), err)
	}
	return uint32(n), 0
}

func (h *writeHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n, err := h.staged.ReadAt(dest, off)
	if err != nil && n == 0 && off < h.size.Load() {
		return nil, toErrno(h.fs.log, "read staged "+h.what(), err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

// truncate handles Setattr(size): 0 starts over, the current size is a no-op, anything else
// is refused.
func (h *writeHandle) truncate(size uint64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case size == 0:
		if err := h.staged.Truncate(0); err != nil {
			return err
		}
		h.size.Store(0)
		h.readOnly = false
		return nil
	case int64(size) == h.size.Load() && !h.readOnly:
		return nil
	}
	return fmt.Errorf("%w: truncate %s to %d bytes: only truncation to 0 is supported", syscall.ENOTSUP, h.what(), size)
}

// Flush publishes unpublished writes; its error is what close(2) returns.
func (h *writeHandle) Flush(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.dirty {
		return 0
	}
	h.dirty = false // one push per written content, whatever its outcome
	if err := h.fs.publish(ctx, h.repo, h.tag, h.title, h.staged, h.node); err != nil {
		return toErrno(h.fs.log, "publish "+h.what(), err)
	}
	return 0
}

func (h *writeHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno { return 0 }

// Release publishes writes no Flush saw (the kernel ignores its error, so it is logged), then
// removes the staged bytes.
func (h *writeHandle) Release(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.dirty {
		h.dirty = false
		if err := h.fs.publish(ctx, h.repo, h.tag, h.title, h.staged, h.node); err != nil {
			toErrno(h.fs.log, "publish on release "+h.what(), err)
		}
	}
	h.node.release(h)
	h.staged.Close()
	os.Remove(h.staged.Name())
	return 0
}

// writable is the part of a file node that can be written: the open writer, whose staged size
// Getattr reports (the kernel asks Getattr without a file handle), the mode and times set by
// chmod and utimens, and what was last published from it.
type writable struct {
	noXattr
	mu        sync.Mutex
	writer    *writeHandle
	mode      uint32
	mtime     time.Time
	published *registry.Layer
}

func (w *writable) touch() {
	w.mu.Lock()
	w.mtime = time.Now()
	w.mu.Unlock()
}

func (w *writable) attach(h *writeHandle) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writer = h
}

func (w *writable) release(h *writeHandle) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.writer == h {
		w.writer = nil
	}
}

func (w *writable) setPublished(l registry.Layer) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.published = &l
}

// attr fills what a writer changes: the staged size while one is open, else size (the last
// published or resolved size).
func (w *writable) attr(out *fuse.Attr, size int64, fsys *filesystem) {
	w.mu.Lock()
	writer, mode, mtime, published := w.writer, w.mode, w.mtime, w.published
	w.mu.Unlock()
	if published != nil {
		size = published.Size
	}
	if writer != nil {
		size = writer.size.Load()
	}
	if mode == 0 {
		mode = fsys.perm &^ 0o111
	}
	if mtime.IsZero() {
		mtime = fsys.start
	}
	out.Mode = syscall.S_IFREG | mode
	out.Nlink = 1
	out.Size = uint64(size)
	out.Blocks = (out.Size + 511) / 512
	out.Blksize = 128 << 10
	setTimes(out, mtime)
}

// setattr applies chmod, utimens and truncate to a file that may be being written. Ownership
// cannot change (chown to the current owner, as cp -p does, is a no-op).
func (w *writable) setattr(fh gofs.FileHandle, in *fuse.SetAttrIn) error {
	if uid, ok := in.GetUID(); ok && uid != 0 {
		return fmt.Errorf("%w: files in the mount belong to root and cannot change owner", syscall.EPERM)
	}
	if gid, ok := in.GetGID(); ok && gid != 0 {
		return fmt.Errorf("%w: files in the mount belong to root and cannot change group", syscall.EPERM)
	}
	h, _ := fh.(*writeHandle)
	w.mu.Lock()
	if h == nil {
		h = w.writer
	}
	w.mu.Unlock()
	if size, ok := in.GetSize(); ok {
		if h == nil {
			return fmt.Errorf("%w: truncate needs the file open for writing (a published component is replaced whole, with O_TRUNC)", syscall.EPERM)
		}
		if err := h.truncate(size); err != nil {
			return err
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if mode, ok := in.GetMode(); ok {
		w.mode = mode & 0o777
	}
	if mtime, ok := in.GetMTime(); ok {
		w.mtime = mtime
	}
	return nil
}

// openWriter opens a file node for writing to repo:tag.
func (fsys *filesystem) openWriter(node *writable, repo, tag, title string, flags uint32, existing bool) (*writeHandle, error) {
	if flags&syscall.O_APPEND != 0 {
		return nil, fmt.Errorf("%w: O_APPEND: a component is written whole, from offset 0", syscall.ENOTSUP)
	}
	staged, err := fsys.cache.Stage()
	if err != nil {
		return nil, err
	}
	h := &writeHandle{fs: fsys, node: node, repo: repo, tag: tag, title: title, staged: staged,
		readOnly: existing && flags&syscall.O_TRUNC == 0}
	node.attach(h)
	return h, nil
}

// publish pushes a staged file as repo:tag: blob, config, then manifest. Two writers of one tag
// take turns in the push (the last close wins); a push is not aborted by an interrupted writer
// (Go programs get SIGURG all the time): it runs on its own context, bounded by the registry
// client's deadlines.
func (fsys *filesystem) publish(ctx context.Context, repo, tag, title string, staged *os.File, node *writable) error {
	start := time.Now()
	res, err := fsys.reg.Push(context.WithoutCancel(ctx), repo, tag, staged, registry.PushOptions{Title: title})
	if err != nil {
		if errors.Is(err, registry.ErrNotWasm) {
			return fmt.Errorf("%s was not pushed: %w", repo+":"+tag, err)
		}
		return fmt.Errorf("push %s:%s failed; the tag is unchanged and the written file is kept until it is closed: %w", repo, tag, err)
	}
	node.setPublished(res.Layer)
	fsys.meta.Forget(repo)
	fsys.pending.published(repo + "/" + tag)
	fsys.log.Info("published", "tag", repo+":"+tag, "layer", res.Layer.Digest, "bytes", res.Layer.Size,
		"manifest", res.ManifestDigest, "took", time.Since(start).Round(time.Millisecond))
	// The kernel may cache component.wasm as it was; drop it. Not from inside this request:
	// the notification waits on locks the kernel may hold for it.
	go fsys.invalidate(repo + "/" + tag + "/" + ComponentName)
	return nil
}

// invalidate tells the kernel to forget the directory entry at path, if it knows it.
func (fsys *filesystem) invalidate(path string) {
	parts := strings.Split(path, "/")
	dir := fsys.root.EmbeddedInode()
	for _, part := range parts[:len(parts)-1] {
		if dir = dir.GetChild(part); dir == nil {
			return
		}
	}
	dir.NotifyEntry(parts[len(parts)-1])
}
