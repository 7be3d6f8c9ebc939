// Package cache keeps blobs on local disk, addressed by digest and verified before use.
//
//	<dir>/blobs/sha256/<hex>   verified blobs, the only files a reader ever opens
//	<dir>/tmp/                 downloads in progress, discarded at start-up
//	<dir>/staging/             files being written through the mount, until pushed
//
// The index is a golang-lru/v2 LRU bounded in bytes by this package (the LRU itself is given
// no count limit). A blob that is open (pinned) is never evicted; the bound may be exceeded
// while pinned blobs hold the space, and is restored as they close. N readers of one cold
// blob share one download, which does not run on any reader's context: a reader that gives
// up gets its own error while the download goes on for the others.
//
// Lock order: Cache.mu only; no I/O is done while holding it except unlinking evicted files.
// The fetch function is passed in, so the cache knows nothing of registries or HTTP.
package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

var (
	// ErrDigestMismatch means the fetched bytes are not the blob asked for.
	ErrDigestMismatch = errors.New("blob does not match its digest")
	// ErrUnsupportedDigest means the digest is not sha256:<64 hex>.
	ErrUnsupportedDigest = errors.New("unsupported digest")
	// ErrTooLarge means the blob cannot fit in the cache at all.
	ErrTooLarge = errors.New("blob larger than the cache")
)

var hexRE = regexp.MustCompile(`^[a-f0-9]{64}$`)

// Fetch opens the bytes of a blob; the cache verifies them.
type Fetch func(ctx context.Context) (io.ReadCloser, error)

// Cache is a byte-bounded, content-addressed store of verified blobs.
type Cache struct {
	dir      string
	maxBytes int64
	log      *slog.Logger

	mu         sync.Mutex
	lru        *simplelru.LRU[string, int64] // hex -> size
	used       int64
	pins       map[string]int
	flights    map[string]*flight
	unverified map[string]bool // found on disk at start-up; hashed again before first use
}

type flight struct {
	done chan struct{}
	err  error
}

// Open opens (creating if needed) the cache in dir, bounded to maxBytes. Verified blobs of a
// previous run are kept, oldest-used first in line for eviction; half-written ones are removed.
func Open(dir string, maxBytes int64, log *slog.Logger) (*Cache, error) {
	if log == nil {
		log = slog.Default()
	}
	c := &Cache{dir: dir, maxBytes: maxBytes, log: log, pins: map[string]int{}, flights: map[string]*flight{},
		unverified: map[string]bool{}}
	lru, err := simplelru.NewLRU[string, int64](math.MaxInt32, func(hex string, size int64) {
		c.used -= size
		delete(c.unverified, hex)
		if err := os.Remove(c.blobPath(hex)); err != nil && !errors.Is(err, os.ErrNotExist) {
			c.log.Warn("cache: remove evicted blob", "digest", "sha256:"+hex, "err", err)
		}
	})
	if err != nil {
		return nil, err
	}
	c.lru = lru
	for _, d := range []string{"tmp", "staging"} {
		if err := os.RemoveAll(filepath.Join(dir, d)); err != nil {
			return nil, fmt.Errorf("cache %s: clear what a previous run left unfinished: %w", dir, err)
		}
	}
	for _, d := range []string{filepath.Join(dir, "tmp"), filepath.Join(dir, "staging"), filepath.Join(dir, "blobs", "sha256")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("cache %s: %w", dir, err)
		}
	}
	if err := c.load(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.evictLocked()
	c.mu.Unlock()
	return c, nil
}

// load indexes the blobs of a previous run by modification time (touched on every use).
func (c *Cache) load() error {
	entries, err := os.ReadDir(filepath.Join(c.dir, "blobs", "sha256"))
	if err != nil {
		return fmt.Errorf("cache %s: %w", c.dir, err)
	}
	type found struct {
		hex  string
		size int64
		used time.Time
	}
	var all []found
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() || !hexRE.MatchString(e.Name()) {
			continue
		}
		all = append(all, found{e.Name(), fi.Size(), fi.ModTime()})
	}
	slices.SortFunc(all, func(a, b found) int { return a.used.Compare(b.used) })
	for _, f := range all {
		c.lru.Add(f.hex, f.size)
		c.used += f.size
		c.unverified[f.hex] = true
	}
	return nil
}

func (c *Cache) blobPath(hex string) string { return filepath.Join(c.dir, "blobs", "sha256", hex) }

// Used is the number of bytes the cache holds.
func (c *Cache) Used() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

// Contains says whether a verified copy of the blob is cached.
func (c *Cache) Contains(digest string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	hex, ok := strings256(digest)
	return ok && c.lru.Contains(hex)
}

func strings256(digest string) (string, bool) {
	const prefix = "sha256:"
	if len(digest) != len(prefix)+64 || digest[:len(prefix)] != prefix || !hexRE.MatchString(digest[len(prefix):]) {
		return "", false
	}
	return digest[len(prefix):], true
}

// Get returns the verified blob, downloading it with fetch if it is not cached. The blob is
// pinned until Close. ctx bounds only this caller's wait, not the shared download.
func (c *Cache) Get(ctx context.Context, digest string, size int64, fetch Fetch) (*Blob, error) {
	hex, ok := strings256(digest)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedDigest, digest)
	}
	if size > c.maxBytes {
		return nil, fmt.Errorf("%w: %s is %d bytes, the cache holds %d; raise --cache-size",
			ErrTooLarge, digest, size, c.maxBytes)
	}
	for {
		c.mu.Lock()
		if _, ok := c.lru.Get(hex); ok {
			c.pins[hex]++
			recheck := c.unverified[hex]
			c.mu.Unlock()
			f, err := os.Open(c.blobPath(hex))
			if err == nil && recheck {
				err = c.recheck(f, hex, size)
			}
			if err != nil {
				c.unpin(hex)
				if errors.Is(err, ErrDigestMismatch) {
					continue // dropped; download it again
				}
				return nil, fmt.Errorf("open cached %s: %w", digest, err)
			}
			now := time.Now()
			_ = os.Chtimes(f.Name(), now, now) // the LRU order survives a restart
			return &Blob{f: f, c: c, hex: hex, size: size}, nil
		}
		fl, ok := c.flights[hex]
		if !ok {
			fl = &flight{done: make(chan struct{})}
			c.flights[hex] = fl
			go c.download(context.WithoutCancel(ctx), hex, size, fetch, fl)
		}
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-fl.done:
		}
		if fl.err != nil {
			return nil, fl.err
		}
	}
}

// recheck hashes a blob kept from a previous run before its first use in this one: blobs are
// not synced to disk when downloaded (that would halve the cold-read speed), so a crash may
// have left one torn. A torn blob is dropped from the cache.
func (c *Cache) recheck(f *os.File, hexDigest string, size int64) error {
	h := sha256.New()
	n, err := io.CopyBuffer(h, f, make([]byte, copyBuffer))
	if err == nil {
		err = verify(h, n, hexDigest, size)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if errors.Is(err, ErrDigestMismatch) {
		f.Close()
		c.log.Warn("cache: a blob kept from a previous run is damaged; fetching it again", "digest", "sha256:"+hexDigest, "err", err)
		c.lru.Remove(hexDigest)
	}
	if err == nil {
		delete(c.unverified, hexDigest)
	}
	return err
}

// copyBuffer is the buffer size for copying blobs (io.Copy's 32 KiB costs a third of the
// speed on large blobs).
const copyBuffer = 1 << 20

// download fetches, verifies and installs one blob, then wakes its waiters.
func (c *Cache) download(ctx context.Context, hex string, size int64, fetch Fetch, fl *flight) {
	err := c.fetchVerified(ctx, hex, size, fetch)
	c.mu.Lock()
	if err == nil {
		c.lru.Add(hex, size)
		c.used += size
		delete(c.unverified, hex)
		c.evictLocked()
	}
	delete(c.flights, hex)
	fl.err = err
	close(fl.done)
	c.mu.Unlock()
}

func (c *Cache) fetchVerified(ctx context.Context, hexDigest string, size int64, fetch Fetch) (err error) {
	digest := "sha256:" + hexDigest
	tmp, err := os.CreateTemp(filepath.Join(c.dir, "tmp"), hexDigest+".*")
	if err != nil {
		return fmt.Errorf("cache %s: %w", digest, err)
	}
	defer func() {
		tmp.Close()
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	body, err := fetch(ctx)
	if err != nil {
		return err
	}
	defer body.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(tmp, h), io.LimitReader(body, size+1), make([]byte, copyBuffer))
	if err != nil {
		return fmt.Errorf("download %s: %w", digest, err)
	}
	if err := verify(h, n, hexDigest, size); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), c.blobPath(hexDigest)); err != nil {
		return fmt.Errorf("cache %s: %w", digest, err)
	}
	return nil
}

func verify(h hash.Hash, n int64, hexDigest string, size int64) error {
	if n != size {
		return fmt.Errorf("%w: sha256:%s: received %d bytes, the manifest says %d",
			ErrDigestMismatch, hexDigest, n, size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != hexDigest {
		return fmt.Errorf("%w: expected sha256:%s, received sha256:%s", ErrDigestMismatch, hexDigest, got)
	}
	return nil
}

// evictLocked removes least recently used blobs that are not pinned until the cache fits.
func (c *Cache) evictLocked() {
	for c.used > c.maxBytes {
		victim := ""
		for _, k := range c.lru.Keys() { // oldest first
			if c.pins[k] == 0 {
				victim = k
				break
			}
		}
		if victim == "" {
			return
		}
		c.lru.Remove(victim)
	}
}

func (c *Cache) unpin(hex string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pins[hex]--; c.pins[hex] <= 0 {
		delete(c.pins, hex)
	}
	c.evictLocked()
}

// Stage creates an empty file on the cache's disk for bytes written through the mount: a
// large component is staged on disk, never in memory. The caller removes it.
func (c *Cache) Stage() (*os.File, error) {
	f, err := os.CreateTemp(filepath.Join(c.dir, "staging"), "write-*")
	if err != nil {
		return nil, fmt.Errorf("stage a written file in %s: %w", c.dir, err)
	}
	return f, nil
}

// Blob is an open, verified, pinned blob.
type Blob struct {
	f    *os.File
	c    *Cache
	hex  string
	size int64
	once sync.Once
}

// ReadAt reads verified bytes.
func (b *Blob) ReadAt(p []byte, off int64) (int, error) { return b.f.ReadAt(p, off) }

// Fd is the verified file's descriptor, for zero-copy reads (splice) by the mount.
func (b *Blob) Fd() uintptr { return b.f.Fd() }

// Size is the blob's length in bytes.
func (b *Blob) Size() int64 { return b.size }

// Close unpins the blob; it may be evicted afterwards.
func (b *Blob) Close() error {
	var err error
	b.once.Do(func() {
		err = b.f.Close()
		b.c.unpin(b.hex)
	})
	return err
}
