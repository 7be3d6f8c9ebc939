package fs_test

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stuffed-dev/stuffed/cache"
	stuffedfs "github.com/stuffed-dev/stuffed/fs"
	"github.com/stuffed-dev/stuffed/internal/testreg"
	"github.com/stuffed-dev/stuffed/registry"
)

const (
	componentFixture = "../test/testdata/hello.component.wasm"
	coreFixture      = "../test/testdata/hello.core.wasm"
)

func TestMain(m *testing.M) {
	// These tests serve their mounts from this process: stop before `go test -timeout` can
	// leave it unable to exit.
	testreg.Watchdog(8 * time.Minute)
	os.Exit(m.Run())
}

// env is a real registry behind a counting proxy, and a client for it.
type env struct {
	reg    *testreg.Registry
	proxy  *testreg.Proxy
	client *registry.Client
}

func newEnv(t *testing.T, timeout time.Duration) *env {
	t.Helper()
	testreg.RequireFUSE(t)
	reg := testreg.Start(t, 0)
	proxy := testreg.NewProxy(t, reg)
	c, err := registry.New(registry.WithHost(proxy.Host), registry.WithPlainHTTP(true),
		registry.WithTimeout(timeout), registry.WithStallTimeout(timeout))
	if err != nil {
		t.Fatal(err)
	}
	return &env{reg: reg, proxy: proxy, client: c}
}

func (e *env) push(t *testing.T, repo, tag, file string) registry.PushResult {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := e.client.Push(context.Background(), repo, tag, f, registry.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// mount mounts c in a temporary folder, unmounted when the test ends.
func mount(t *testing.T, c *registry.Client, opts stuffedfs.Options) string {
	t.Helper()
	return mountCache(t, c, opts, t.TempDir(), 1<<30)
}

// mountCache mounts c with its blob cache in cacheDir, bounded to cacheSize.
func mountCache(t *testing.T, c *registry.Client, opts stuffedfs.Options, cacheDir string, cacheSize int64) string {
	t.Helper()
	blobs, err := cache.Open(cacheDir, cacheSize, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	server, err := stuffedfs.Mount(dir, c, blobs, opts)
	if err != nil {
		t.Fatal(err)
	}
	testreg.TrackMount(t, dir)
	t.Cleanup(func() {
		if err := server.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	return dir
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func TestTreeStatWithoutDownloadThenVerifiedRead(t *testing.T) {
	e := newEnv(t, 10*time.Second)
	comp := e.push(t, "wasm/hello", "v1", componentFixture)
	e.push(t, "wasm/hello", "v2", coreFixture)
	e.push(t, "wasm/hello/sub", "v1", coreFixture)
	e.push(t, "core", "latest", coreFixture)
	mnt := mount(t, e.client, stuffedfs.Options{MetaTTL: 200 * time.Millisecond})

	if got := names(t, mnt); !slices.Equal(got, []string{"core", "wasm"}) {
		t.Fatalf("root lists %v", got)
	}
	if got := names(t, filepath.Join(mnt, "wasm/hello")); !slices.Equal(got, []string{"sub", "v1", "v2"}) {
		t.Fatalf("wasm/hello lists %v", got)
	}
	// stat, ls -l and find: sizes from manifests, no blob downloaded.
	var files int
	err := filepath.WalkDir(mnt, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			files++
			if _, err := d.Info(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || files != 4 {
		t.Fatalf("walk: %d files, %v", files, err)
	}
	fi, err := os.Stat(filepath.Join(mnt, "wasm/hello/v1/component.wasm"))
	if err != nil || fi.Size() != comp.Layer.Size || fi.Mode().Perm() != 0o644 {
		t.Fatalf("stat: %v %v", fi, err)
	}
	if n := e.proxy.Count("GET blob"); n != 0 {
		t.Fatalf("stat and walk downloaded %d blobs", n)
	}

	want, _ := os.ReadFile(componentFixture)
	for range 2 {
		got, err := os.ReadFile(filepath.Join(mnt, "wasm/hello/v1/component.wasm"))
		if err != nil || string(got) != string(want) {
			t.Fatalf("read %d bytes, err %v", len(got), err)
		}
	}
	if n := e.proxy.Count("GET blob"); n != 1 {
		t.Fatalf("two reads made %d blob GETs, want 1", n)
	}

	// Digest-pinned folder: found on demand, never listed.
	pinned := filepath.Join(mnt, "wasm/hello", "@"+comp.ManifestDigest, "component.wasm")
	if got, err := os.ReadFile(pinned); err != nil || string(got) != string(want) {
		t.Fatalf("pinned read: %v", err)
	}
	if slices.Contains(names(t, filepath.Join(mnt, "wasm/hello")), "@"+comp.ManifestDigest) {
		t.Fatal("a digest folder is listed")
	}
	if f, err := os.OpenFile(pinned, os.O_WRONLY|os.O_TRUNC, 0); !errors.Is(err, syscall.EPERM) {
		if err == nil {
			f.Close()
		}
		t.Errorf("open a digest-pinned component for writing: %v, want EPERM", err)
	}

	// Two tags holding the same layer: writing one retags that one only.
	e.push(t, "wasm/hello", "v3", componentFixture)
	time.Sleep(300 * time.Millisecond) // past the metadata TTL: the mount sees v3
	for _, tag := range []string{"v1", "v3"} {
		if _, err := os.Stat(filepath.Join(mnt, "wasm/hello", tag, "component.wasm")); err != nil {
			t.Fatal(err)
		}
	}
	core, _ := os.ReadFile(coreFixture)
	if err := os.WriteFile(filepath.Join(mnt, "wasm/hello/v3/component.wasm"), core, 0o644); err != nil {
		t.Fatal(err)
	}
	for tag, wantSize := range map[string]int64{"v1": comp.Layer.Size, "v3": int64(len(core))} {
		if art, err := e.client.Resolve(context.Background(), "wasm/hello", tag); err != nil || art.Layer.Size != wantSize {
			t.Errorf("after writing v3, %s holds %d bytes (%v), want %d", tag, art.Layer.Size, err, wantSize)
		}
	}

	for _, p := range []string{"nope", "wasm/hello/v9", "wasm/Hello", "wasm/hello/@sha256:00", "wasm/hello/v1/other"} {
		if _, err := os.Stat(filepath.Join(mnt, p)); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("stat %s: %v, want ENOENT", p, err)
		}
	}
}

func TestReadOnlyRefusesEveryWrite(t *testing.T) {
	e := newEnv(t, 10*time.Second)
	e.push(t, "wasm/hello", "v1", componentFixture)
	mnt := mount(t, e.client, stuffedfs.Options{ReadOnly: true})
	uploads := func() int { return e.proxy.Count("PUT manifest") + e.proxy.Count("POST upload") }
	before := uploads()
	file := filepath.Join(mnt, "wasm/hello/v1/component.wasm")
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o444 {
		t.Fatalf("stat on a read-only mount: %v %v", fi, err)
	}
	if _, err := os.OpenFile(file, os.O_WRONLY|os.O_TRUNC, 0); !errors.Is(err, syscall.EROFS) {
		t.Errorf("open for writing: %v, want EROFS", err)
	}
	if err := os.MkdirAll(filepath.Join(mnt, "wasm/new/v1"), 0o755); !errors.Is(err, syscall.EROFS) {
		t.Errorf("mkdir: %v, want EROFS", err)
	}
	if _, err := os.Create(filepath.Join(mnt, "wasm/hello/v1/app.wasm")); !errors.Is(err, syscall.EROFS) {
		t.Errorf("create: %v, want EROFS", err)
	}
	if n := uploads() - before; n != 0 {
		t.Errorf("%d upload requests through a read-only mount", n)
	}
}

func TestConcurrentColdReadersOneDownload(t *testing.T) {
	e := newEnv(t, 10*time.Second)
	e.push(t, "wasm/hello", "v1", componentFixture)
	mnt := mount(t, e.client, stuffedfs.Options{})
	file := filepath.Join(mnt, "wasm/hello/v1/component.wasm")
	if _, err := os.Stat(file); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(componentFixture)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := os.ReadFile(file)
			if err == nil && string(got) != string(want) {
				err = errors.New("different bytes")
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := e.proxy.Count("GET blob"); n != 1 {
		t.Fatalf("64 cold readers made %d blob GETs, want 1", n)
	}
}

func TestRegistryWithoutCatalog(t *testing.T) {
	e := newEnv(t, 10*time.Second)
	e.push(t, "listed/app", "v1", coreFixture)
	e.push(t, "wasm/hello", "v1", componentFixture)
	e.proxy.SetFault(testreg.Answer("GET catalog", http.StatusNotFound))
	mnt := mount(t, e.client, stuffedfs.Options{Repos: []string{"listed/app"}})
	if got := names(t, mnt); !slices.Equal(got, []string{"listed"}) {
		t.Fatalf("root lists %v, want the --repo names", got)
	}
	want, _ := os.ReadFile(componentFixture)
	if got, err := os.ReadFile(filepath.Join(mnt, "wasm/hello/v1/component.wasm")); err != nil || string(got) != string(want) {
		t.Fatalf("an unlisted repository by name: %v", err)
	}
	if got := names(t, filepath.Join(mnt, "wasm/hello")); !slices.Equal(got, []string{"v1"}) {
		t.Fatalf("unlisted repository lists %v", got)
	}
}

func TestDeadRegistryIsAnErrorNotAHang(t *testing.T) {
	testreg.RequireFUSE(t)
	c, err := registry.New(registry.WithHost(testreg.Silent(t)), registry.WithPlainHTTP(true),
		registry.WithTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	mnt := mount(t, c, stuffedfs.Options{})
	if _, err := os.ReadDir(mnt); !errors.Is(err, syscall.EIO) {
		t.Fatalf("listing a registry that never answers: %v, want EIO", err)
	}
	if _, err := os.Stat(filepath.Join(mnt, "wasm")); !errors.Is(err, syscall.EIO) {
		t.Fatalf("lookup on a registry that never answers: %v, want EIO", err)
	}
}
