package fs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/posixtest"

	stuffedfs "github.com/stuffed-dev/stuffed/fs"
	"github.com/stuffed-dev/stuffed/internal/testreg"
	"github.com/stuffed-dev/stuffed/registry"
)

// cachedBlobs lists the verified blobs in a cache folder and anything left in its tmp folder.
func cachedBlobs(t *testing.T, dir string) (blobs, tmp []string) {
	t.Helper()
	for sub, out := range map[string]*[]string{"blobs/sha256": &blobs, "tmp": &tmp} {
		entries, _ := os.ReadDir(filepath.Join(dir, sub))
		for _, e := range entries {
			*out = append(*out, e.Name())
		}
	}
	return blobs, tmp
}

// TestFaultCorruptTruncatedPaddedBlob: read fails with EIO, no byte is served, nothing stays
// in the cache; once the registry heals, the same read succeeds without a remount.
func TestFaultCorruptTruncatedPaddedBlob(t *testing.T) {
	e := newEnv(t, 10*time.Second)
	e.push(t, "wasm/hello", "v1", componentFixture)
	cacheDir := t.TempDir()
	mnt := mountCache(t, e.client, stuffedfs.Options{}, cacheDir, 1<<30)
	file := filepath.Join(mnt, "wasm/hello/v1/component.wasm")
	for name, rewrite := range map[string]func([]byte) []byte{
		"flipped last byte": func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b },
		"truncated":         func(b []byte) []byte { return b[:len(b)-10] },
		"padded":            func(b []byte) []byte { return append(b, "trailing"...) },
	} {
		e.proxy.SetFault(e.proxy.RewriteBody("GET blob", rewrite))
		got, err := os.ReadFile(file)
		if !errors.Is(err, syscall.EIO) || len(got) != 0 {
			t.Fatalf("%s: read %d bytes, err %v; want EIO and no byte", name, len(got), err)
		}
		if blobs, tmp := cachedBlobs(t, cacheDir); len(blobs)+len(tmp) != 0 {
			t.Fatalf("%s: the cache kept %v %v", name, blobs, tmp)
		}
	}
	e.proxy.SetFault(nil)
	want, _ := os.ReadFile(componentFixture)
	if got, err := os.ReadFile(file); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("after the registry healed: %v", err)
	}
}

// TestFaultSlowBodyLastByteWrong: a cold reader asking for the first bytes of a blob that
// arrives slowly, wrong only in its last byte, gets EIO and never one unverified byte.
func TestFaultSlowBodyLastByteWrong(t *testing.T) {
	e := newEnv(t, 10*time.Second)
	e.push(t, "wasm/hello", "v1", componentFixture)
	mnt := mount(t, e.client, stuffedfs.Options{})
	e.proxy.SetFault(e.proxy.SlowBody("GET blob", 2048, 20*time.Millisecond,
		func(b []byte) []byte { b[len(b)-1] ^= 1; return b }))
	f, err := os.Open(filepath.Join(mnt, "wasm/hello/v1/component.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 16)
	n, err := f.ReadAt(buf, 0)
	if n != 0 || !errors.Is(err, syscall.EIO) {
		t.Fatalf("read %d bytes (%q), err %v; want EIO and none", n, buf[:n], err)
	}
}

// TestFaultOversizedDescriptorsAndListings: a layer claiming 2^40 bytes or more than
// --max-blob-size is refused without a blob GET (EFBIG); a manifest over 4 MiB is refused;
// a listing over its bound is EIO.
func TestFaultOversizedDescriptorsAndListings(t *testing.T) {
	testreg.RequireFUSE(t)
	reg := testreg.Start(t, 0)
	proxy := testreg.NewProxy(t, reg)
	c, err := registry.New(registry.WithHost(proxy.Host), registry.WithPlainHTTP(true),
		registry.WithTimeout(10*time.Second), registry.WithMaxBlobSize(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(componentFixture)
	res, err := c.Push(context.Background(), "wasm/hello", "v1", f, registry.PushOptions{})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	fresh := stuffedfs.Options{MetaTTL: time.Nanosecond}
	mnt := mount(t, c, fresh)
	claim := func(size int64) testreg.Fault {
		return proxy.RewriteBody("GET manifest", func(b []byte) []byte {
			return bytes.Replace(b, []byte(fmt.Sprintf(`"size":%d`, res.Layer.Size)), []byte(fmt.Sprintf(`"size":%d`, size)), 1)
		})
	}
	for _, size := range []int64{1 << 40, 2 << 20} {
		proxy.SetFault(claim(size))
		err := readSome(filepath.Join(mnt, "wasm/hello/v1/component.wasm"))
		if !errors.Is(err, syscall.EFBIG) {
			t.Errorf("a layer of %d bytes: %v, want EFBIG", size, err)
		}
	}
	if n := proxy.Count("GET blob"); n != 0 {
		t.Fatalf("%d blob GETs for oversized layers", n)
	}

	huge := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","annotations":{"x":"` +
		strings.Repeat("a", 5<<20) + `"}}`
	proxy.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		if testreg.Route(r) != "GET manifest" && testreg.Route(r) != "HEAD manifest" {
			return false
		}
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		w.Write([]byte(huge))
		return true
	})
	if _, err := os.Stat(filepath.Join(mnt, "wasm/hello/v1/component.wasm")); !errors.Is(err, syscall.EFBIG) {
		t.Errorf("a 5 MiB manifest: %v, want EFBIG", err)
	}

	proxy.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		if testreg.Route(r) != "GET tags" {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"name":"wasm/hello","tags":["`)
		chunk := strings.Repeat("t", 1<<20)
		for range 20 { // 20 MiB, over the 16 MiB bound
			if _, err := fmt.Fprint(w, chunk); err != nil {
				return true
			}
		}
		fmt.Fprint(w, `"]}`)
		return true
	})
	if _, err := os.ReadDir(filepath.Join(mnt, "wasm/hello")); !errors.Is(err, syscall.EFBIG) && !errors.Is(err, syscall.EIO) {
		t.Errorf("a 20 MiB tag list: %v, want EIO or EFBIG", err)
	}
}

// readSome reads the first bytes of a file (os.ReadFile would allocate the whole claimed size).
func readSome(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Read(make([]byte, 4096))
	return err
}

// TestFaultHostileNames: names from the registry that break the OCI grammar are never listed
// and never resolve.
func TestFaultHostileNames(t *testing.T) {
	e := newEnv(t, 10*time.Second)
	e.push(t, "ok/repo", "v1", coreFixture)
	hostileTags := []string{"..", ".", "a/b", "x\x00y", strings.Repeat("t", 129), "-lead", "v1"}
	hostileRepos := []string{"../etc", "a//b", "UPPER", "ok/repo", "/abs", "ok/../x", "ok/repo/.."}
	e.proxy.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		var body any
		switch testreg.Route(r) {
		case "GET tags":
			if !strings.HasPrefix(r.URL.Path, "/v2/ok/repo/tags") {
				return false
			}
			body = map[string]any{"name": "ok/repo", "tags": hostileTags}
		case "GET catalog":
			body = map[string]any{"repositories": hostileRepos}
		default:
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(body)
		return true
	})
	mnt := mount(t, e.client, stuffedfs.Options{})
	if got := names(t, mnt); !slices.Equal(got, []string{"ok"}) {
		t.Errorf("root lists %q", got)
	}
	if got := names(t, filepath.Join(mnt, "ok/repo")); !slices.Equal(got, []string{"v1"}) {
		t.Errorf("ok/repo lists %q", got)
	}
	for _, p := range []string{"UPPER", "ok/repo/-lead", "../etc"} {
		if _, err := os.Stat(filepath.Join(mnt, p)); err == nil {
			t.Errorf("%q resolves", p)
		}
	}
}

// TestFaultHangingRegistry: a registry that accepts requests and never answers: every
// operation fails within its deadline, no FUSE request stays waiting, and what is already
// known and cached still reads.
func TestFaultHangingRegistry(t *testing.T) {
	e := newEnv(t, time.Second)
	e.push(t, "wasm/hello", "v1", componentFixture)
	mnt := mount(t, e.client, stuffedfs.Options{MetaTTL: 100 * time.Millisecond})
	file := filepath.Join(mnt, "wasm/hello/v1/component.wasm")
	want, _ := os.ReadFile(componentFixture)
	if got, err := os.ReadFile(file); err != nil || !bytes.Equal(got, want) {
		t.Fatal(err)
	}
	e.proxy.SetFault(testreg.Hang(""))
	time.Sleep(200 * time.Millisecond) // past the metadata TTL
	if _, err := os.Stat(filepath.Join(mnt, "wasm/other")); !errors.Is(err, syscall.EIO) {
		t.Errorf("lookup of an unknown repository: %v, want EIO", err)
	}
	if got, err := os.ReadFile(file); err != nil || !bytes.Equal(got, want) {
		t.Errorf("a cached file while the registry hangs: %v", err)
	}
	// The kernel's count of waiting requests returns to 0 (a release may still be on its way).
	for deadline := time.Now().Add(5 * time.Second); fuseWaiting(t, mnt) != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d FUSE requests still waiting after 5s", fuseWaiting(t, mnt))
		}
	}
}

// fuseWaiting reads the kernel's count of FUSE requests waiting for the mount's server.
func fuseWaiting(t *testing.T, mnt string) int {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(mnt, &st); err != nil {
		t.Fatal(err)
	}
	minor := testreg.FuseConnection(st.Dev)
	const fusectl = "/sys/fs/fuse/connections"
	waiting := fmt.Sprintf("%s/%d/waiting", fusectl, minor)
	if _, err := os.Stat(waiting); errors.Is(err, os.ErrNotExist) {
		// The FUSE control filesystem shows the counts; mount it for this test if it is not.
		if err := syscall.Mount("fusectl", fusectl, "fusectl", 0, ""); err != nil {
			t.Fatalf("mount fusectl on %s: %v", fusectl, err)
		}
		t.Cleanup(func() { syscall.Unmount(fusectl, 0) })
	}
	b, err := os.ReadFile(waiting)
	if err != nil {
		t.Fatalf("read the FUSE connection's waiting count: %v", err)
	}
	var n int
	fmt.Sscan(string(b), &n)
	return n
}

// TestFaultRetryAfter: 429 and 503 with Retry-After are retried within the deadline; 401,
// 403 and 404 are not retried; 404 is ENOENT.
func TestFaultRetryAfter(t *testing.T) {
	e := newEnv(t, 10*time.Second)
	e.push(t, "wasm/hello", "v1", componentFixture)
	mnt := mount(t, e.client, stuffedfs.Options{MetaTTL: time.Nanosecond})
	dir := filepath.Join(mnt, "wasm/hello")
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		var mu sync.Mutex
		var seen, firstAnswered int
		refuse := testreg.AnswerRetryAfter("GET tags", status, "1")
		e.proxy.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != "/v2/wasm/hello/tags/list" {
				return false
			}
			mu.Lock()
			defer mu.Unlock()
			if seen++; seen <= 2 {
				return refuse(w, r)
			}
			if firstAnswered == 0 {
				firstAnswered = seen
			}
			return false
		})
		if got := names(t, dir); !slices.Equal(got, []string{"v1"}) {
			t.Errorf("after %d twice: %v", status, got)
		}
		mu.Lock()
		defer mu.Unlock()
		if firstAnswered != 3 {
			t.Errorf("%d: the first answered request was number %d, want 3 (two refused, then retried)", status, firstAnswered)
		}
	}
	// 404 last: the kernel remembers a "no such file" for a second.
	for _, c := range []struct {
		status int
		want   syscall.Errno
	}{
		{http.StatusUnauthorized, syscall.EACCES},
		{http.StatusForbidden, syscall.EACCES},
		{http.StatusNotFound, syscall.ENOENT},
	} {
		e.proxy.SetFault(testreg.Answer("GET manifest", c.status))
		before := e.proxy.Count("GET manifest")
		_, err := os.Stat(filepath.Join(mnt, "wasm/hello/v1/component.wasm"))
		if !errors.Is(err, c.want) {
			t.Errorf("manifest answered %d: %v, want %v", c.status, err, c.want)
		}
		if n := e.proxy.Count("GET manifest") - before; n != 1 {
			t.Errorf("manifest answered %d: %d requests, want 1 (no retry)", c.status, n)
		}
	}
}

// TestFaultInterruptedReader: a reader killed while the blob downloads does not stop the
// shared download; another reader gets the whole verified file from that one GET.
func TestFaultInterruptedReader(t *testing.T) {
	e := newEnv(t, 10*time.Second)
	e.push(t, "wasm/hello", "v1", componentFixture)
	mnt := mount(t, e.client, stuffedfs.Options{})
	file := filepath.Join(mnt, "wasm/hello/v1/component.wasm")
	e.proxy.SetFault(e.proxy.SlowBody("GET blob", 1024, 30*time.Millisecond, nil)) // about half a second
	cat := exec.Command("cat", file)
	if err := cat.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	cat.Process.Signal(syscall.SIGINT)
	if err := cat.Wait(); err == nil {
		t.Fatal("cat was not interrupted")
	}
	want, _ := os.ReadFile(componentFixture)
	if got, err := os.ReadFile(file); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the reader after an interrupted one: %v", err)
	}
	if n := e.proxy.Count("GET blob"); n != 1 {
		t.Fatalf("%d blob GETs, want the one shared download", n)
	}
}

// TestFaultCacheDiskFull: with the cache on a full disk, a cold read fails (EIO or ENOSPC),
// a write fails with ENOSPC, and nothing partial is left.
func TestFaultCacheDiskFull(t *testing.T) {
	e := newEnv(t, 10*time.Second)
	big := bigWasm(t, 512<<10)
	e.push(t, "wasm/big", "v1", big)
	cacheDir := t.TempDir()
	if err := syscall.Mount("tmpfs", cacheDir, "tmpfs", 0, "size=256k"); err != nil {
		t.Fatalf("mount a small tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(cacheDir, syscall.MNT_DETACH) })
	mnt := mountCache(t, e.client, stuffedfs.Options{}, cacheDir, 1<<30)

	_, err := os.ReadFile(filepath.Join(mnt, "wasm/big/v1/component.wasm"))
	if !errors.Is(err, syscall.ENOSPC) && !errors.Is(err, syscall.EIO) {
		t.Errorf("cold read with a full cache disk: %v, want ENOSPC or EIO", err)
	}
	if blobs, tmp := cachedBlobs(t, cacheDir); len(blobs)+len(tmp) != 0 {
		t.Errorf("partial files left: %v %v", blobs, tmp)
	}
	os.MkdirAll(filepath.Join(mnt, "wasm/big/v2"), 0o755)
	data, _ := os.ReadFile(big)
	err = os.WriteFile(filepath.Join(mnt, "wasm/big/v2/component.wasm"), data, 0o644)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("write with a full cache disk: %v, want ENOSPC", err)
	}
	// The kernel sends release after close returns; give it a moment.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		staged, _ := os.ReadDir(filepath.Join(cacheDir, "staging"))
		if len(staged) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("staged bytes left after the writer released: %d files", len(staged))
			break
		}
	}
	if _, err := e.client.Resolve(context.Background(), "wasm/big", "v2"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("a failed write was published: %v", err)
	}
}

// bigWasm writes a valid core module of about size bytes (a custom section of padding).
func bigWasm(t *testing.T, size int) string {
	t.Helper()
	payload := append([]byte{4, 'p', 'a', 'd', 0}, make([]byte, size)...) // name "pad", then data
	var leb []byte
	for n := len(payload); ; {
		b := byte(n & 0x7f)
		n >>= 7
		if n != 0 {
			leb = append(leb, b|0x80)
			continue
		}
		leb = append(leb, b)
		break
	}
	mod := append([]byte("\x00asm\x01\x00\x00\x00\x00"), leb...)
	mod = append(mod, payload...)
	p := filepath.Join(t.TempDir(), "big.wasm")
	if err := os.WriteFile(p, mod, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFaultTagMovedWhileOpen: a handle open on a tag keeps reading the bytes it opened after
// another client moves the tag; an open after the metadata TTL sees the new ones; never a mix.
func TestFaultTagMovedWhileOpen(t *testing.T) {
	e := newEnv(t, 10*time.Second)
	e.push(t, "wasm/hello", "v1", componentFixture)
	mnt := mount(t, e.client, stuffedfs.Options{MetaTTL: 200 * time.Millisecond})
	file := filepath.Join(mnt, "wasm/hello/v1/component.wasm")
	old, _ := os.ReadFile(componentFixture)
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, 100)
	if _, err := f.ReadAt(head, 0); err != nil {
		t.Fatal(err)
	}
	e.push(t, "wasm/hello", "v1", coreFixture) // another client moves the tag
	rest := make([]byte, len(old)-100)
	if _, err := f.ReadAt(rest, 100); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(head, rest...), old) {
		t.Fatal("the open handle mixed old and new bytes")
	}
	time.Sleep(300 * time.Millisecond)
	want, _ := os.ReadFile(coreFixture)
	if got, err := os.ReadFile(file); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("a new open after the TTL: %d bytes, %v; want the new %d", len(got), err, len(want))
	}
}

// TestFaultTLS: a registry with a self-signed certificate is refused unless its CA is trusted
// or verification is explicitly turned off; TLS and plain HTTP never fall back to each other.
func TestFaultTLS(t *testing.T) {
	plain := testreg.Start(t, 0)
	tlsSrv := httptest.NewTLSServer(plain.Server.Config.Handler)
	t.Cleanup(tlsSrv.Close)
	host := strings.TrimPrefix(tlsSrv.URL, "https://")
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw}), 0o600)

	try := func(opts ...registry.Opt) error {
		c, err := registry.New(append([]registry.Opt{registry.WithTimeout(5 * time.Second)}, opts...)...)
		if err != nil {
			return err
		}
		_, err = c.Tags(context.Background(), "wasm/none")
		if errors.Is(err, registry.ErrNotFound) {
			return nil // the registry answered
		}
		return err
	}
	if err := try(registry.WithHost(host)); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted self-signed certificate: %v, want a certificate error", err)
	}
	if err := try(registry.WithHost(host), registry.WithCAFile(ca)); err != nil {
		t.Errorf("trusted CA: %v", err)
	}
	if err := try(registry.WithHost(host), registry.WithTLSSkipVerify(true)); err != nil {
		t.Errorf("verification turned off: %v", err)
	}
	if err := try(registry.WithHost(host), registry.WithPlainHTTP(true)); err == nil {
		t.Error("plain HTTP to a TLS registry succeeded")
	}
	if err := try(registry.WithHost(plain.Host)); err == nil {
		t.Error("TLS to a plain-HTTP registry fell back to plain HTTP")
	}
}

// TestFaultCatalogRefusedAndPaging: _catalog answering 401 or 404 leaves the --repo names
// and lookup by name; paginated tag lists (n=2) are followed to the end.
func TestFaultCatalogRefusedAndPaging(t *testing.T) {
	e := newEnv(t, 10*time.Second)
	var tags []string
	for i := range 5 {
		tag := fmt.Sprintf("v%d", i)
		tags = append(tags, tag)
		e.push(t, "wasm/hello", tag, coreFixture)
	}
	e.push(t, "listed/app", "v1", coreFixture)
	for _, status := range []int{http.StatusUnauthorized, http.StatusNotFound} {
		e.proxy.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
			if testreg.Answer("GET catalog", status)(w, r) {
				return true
			}
			return pageTags(w, r, "wasm/hello", tags, 2)
		})
		mnt := mount(t, e.client, stuffedfs.Options{Repos: []string{"listed/app"}})
		if got := names(t, mnt); !slices.Equal(got, []string{"listed"}) {
			t.Errorf("catalog %d: root lists %v", status, got)
		}
		if got := names(t, filepath.Join(mnt, "wasm/hello")); !slices.Equal(got, tags) {
			t.Errorf("catalog %d: paged tags list %v, want %v", status, got, tags)
		}
	}
}

// pageTags answers tags/list of repo n tags at a time, with Link headers to the next page.
func pageTags(w http.ResponseWriter, r *http.Request, repo string, tags []string, n int) bool {
	if testreg.Route(r) != "GET tags" || !strings.Contains(r.URL.Path, "/"+repo+"/") {
		return false
	}
	start := 0
	if last := r.URL.Query().Get("last"); last != "" {
		start = slices.Index(tags, last) + 1
	}
	end := min(start+n, len(tags))
	if end < len(tags) {
		w.Header().Set("Link", fmt.Sprintf(`</v2/%s/tags/list?n=%d&last=%s>; rel="next"`, repo, n, tags[end-1]))
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"name": repo, "tags": tags[start:end]})
	return true
}

// TestPosixOnTagFolder: go-fuse's posixtest cases that fit a read-mostly filesystem pass in a
// tag folder; the operations that do not fit fail with their documented errno.
func TestPosixOnTagFolder(t *testing.T) {
	e := newEnv(t, 10*time.Second)
	e.push(t, "wasm/hello", "v1", componentFixture)
	mnt := mount(t, e.client, stuffedfs.Options{})
	tag := filepath.Join(mnt, "wasm/hello/v1")
	for _, name := range []string{"MkdirRmdir", "ReadDirConsistency"} {
		t.Run(name, func(t *testing.T) { posixtest.All[name](t, tag) })
	}
	file := filepath.Join(tag, "component.wasm")
	for what, err := range map[string]error{
		"rename":     os.Rename(file, filepath.Join(tag, "x.wasm")),
		"link":       os.Link(file, filepath.Join(tag, "x.wasm")),
		"symlink":    os.Symlink("component.wasm", filepath.Join(tag, "x.wasm")),
		"setxattr":   syscall.Setxattr(file, "user.x", []byte("y"), 0),
		"append":     appendTo(file),
		"unlink":     os.Remove(file),
		"rmdir tag":  os.Remove(tag),
		"chown":      os.Chown(file, 1, 1),
		"truncate 1": os.Truncate(file, 1),
	} {
		want := map[string]syscall.Errno{"setxattr": syscall.ENOTSUP, "append": syscall.ENOTSUP}[what]
		if want == 0 {
			want = syscall.EPERM
		}
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", what, err, want)
		}
	}
}

func appendTo(file string) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
	if err == nil {
		f.Close()
	}
	return err
}

// TestPreadMmapLseek: reads at and past EOF, a private read-only mapping (in another process),
// and lseek SEEK_END/SEEK_DATA give the results the known bytes say.
func TestPreadMmapLseek(t *testing.T) {
	e := newEnv(t, 10*time.Second)
	e.push(t, "wasm/hello", "v1", componentFixture)
	mnt := mount(t, e.client, stuffedfs.Options{})
	want, _ := os.ReadFile(componentFixture)
	size := int64(len(want))
	fd, err := syscall.Open(filepath.Join(mnt, "wasm/hello/v1/component.wasm"), syscall.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	buf := make([]byte, 4096)
	if n, err := syscall.Pread(fd, buf, size-10); err != nil || n != 10 || !bytes.Equal(buf[:n], want[size-10:]) {
		t.Errorf("pread across EOF: %d %v", n, err)
	}
	for _, off := range []int64{size, size + 1, size + 1<<20} {
		if n, err := syscall.Pread(fd, buf, off); n != 0 || err != nil {
			t.Errorf("pread at %d (EOF %d): %d bytes, %v", off, size, n, err)
		}
	}
	wantSum := sha256.Sum256(want)
	if sum, err := mmapDigest(filepath.Join(mnt, "wasm/hello/v1/component.wasm")); err != nil || sum != hex.EncodeToString(wantSum[:]) {
		t.Errorf("mmap: sha256 %s (%v), want %s", sum, err, hex.EncodeToString(wantSum[:]))
	}
	if off, err := syscall.Seek(fd, 0, 2); err != nil || off != size { // SEEK_END
		t.Errorf("SEEK_END: %d %v, want %d", off, err, size)
	}
	const seekData = 3
	if off, err := syscall.Seek(fd, 100, seekData); err != nil || off != 100 {
		t.Errorf("SEEK_DATA at 100: %d %v", off, err)
	}
	if _, err := syscall.Seek(fd, size+1, seekData); !errors.Is(err, syscall.ENXIO) {
		t.Errorf("SEEK_DATA past EOF: %v, want ENXIO", err)
	}
}

// TestFaultMmapOfCorruptBlob: a runtime that maps a component whose blob fails verification
// gets SIGBUS on the page, never wrong bytes. The mapping is read by another process: a
// page fault in the process that serves the mount could wait on itself.
func TestFaultMmapOfCorruptBlob(t *testing.T) {
	e := newEnv(t, 10*time.Second)
	e.push(t, "wasm/hello", "v1", componentFixture)
	mnt := mount(t, e.client, stuffedfs.Options{})
	e.proxy.SetFault(e.proxy.RewriteBody("GET blob", func(b []byte) []byte { b[0] ^= 0xff; return b }))
	out, err := mmapDigest(filepath.Join(mnt, "wasm/hello/v1/component.wasm"))
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGBUS {
		t.Fatalf("mapping a corrupt blob: %v, output %q; want death by SIGBUS", err, out)
	}
}

// mmapDigest maps a file read-only and private in a python3 process and returns the sha256
// of the mapped bytes.
func mmapDigest(path string) (string, error) {
	const script = `import hashlib, mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
m = mmap.mmap(fd, 0, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)
print(hashlib.sha256(m[:]).hexdigest(), end="")`
	out, err := exec.Command("python3", "-c", script, path).Output()
	return string(out), err
}
