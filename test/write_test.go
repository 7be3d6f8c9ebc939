package test

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stuffed-dev/stuffed/internal/testreg"
)

// writeEnv is a registry process behind a counting proxy, mounted by the binary.
type writeEnv struct {
	host  string // the registry itself, for regctl
	proxy *testreg.Proxy
	env   []string // regctl's environment
	mnt   *mountProc
}

func newWriteEnv(t *testing.T, mountArgs ...string) *writeEnv {
	t.Helper()
	host := startRegistry(t)
	proxy := testreg.NewProxyTo(t, "http://"+host)
	args := append([]string{"--registry", proxy.Host, "-i", "--cache-dir", t.TempDir()}, mountArgs...)
	return &writeEnv{host: host, proxy: proxy, env: toolEnv(t, host), mnt: mountBinary(t, nil, args...)}
}

func (w *writeEnv) path(p string) string { return filepath.Join(w.mnt.dir, p) }

// pushed reads repo:tag with regctl and checks it holds file as a CNCF Wasm artifact titled title.
func (w *writeEnv) pushed(t *testing.T, repoTag, file, title string) {
	t.Helper()
	raw := must(t, "", w.env, tool(t, "regctl"), "manifest", "get", w.host+"/"+repoTag, "--format", "raw-body")
	var m manifestJSON
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != 1 || m.Layers[0].Digest != "sha256:"+sha256Hex(t, file) ||
		m.Layers[0].MediaType != "application/wasm" || m.Config.MediaType != "application/vnd.wasm.config.v0+json" ||
		m.Layers[0].Annotations["org.opencontainers.image.title"] != title {
		t.Fatalf("%s as regctl reads it:\n%s\nwant layer sha256:%s titled %s", repoTag, raw, sha256Hex(t, file), title)
	}
	repo, _, _ := strings.Cut(repoTag, ":")
	blob := must(t, "", w.env, tool(t, "regctl"), "blob", "get", w.host+"/"+repo, m.Layers[0].Digest)
	if want, _ := os.ReadFile(file); blob != string(want) {
		t.Fatalf("%s: the registry holds other bytes", repoTag)
	}
}

// puts counts manifest PUTs through the proxy while f runs.
func (w *writeEnv) puts(f func()) int {
	before := w.proxy.Count("PUT manifest")
	f()
	return w.proxy.Count("PUT manifest") - before
}

// TestEveryWriterPublishesOnClose: cp, cp -p, install, dd, shell redirection, a Go program
// and Python's shutil.copy each publish the bytes with exactly one manifest PUT, readable by
// regctl and through the mount at once.
func TestEveryWriterPublishesOnClose(t *testing.T) {
	w := newWriteEnv(t)
	comp, core := fixture(t, componentFile), fixture(t, coreFile)
	writers := []struct {
		name, repoTag, file, title string
		write                      func(t *testing.T, dst string)
	}{
		{"cp into the folder", "wasm/cp:v1", comp, componentFile, func(t *testing.T, dst string) {
			must(t, "", nil, "cp", comp, filepath.Dir(dst)+"/")
		}},
		{"cp -p", "wasm/cp-p:v1", core, "component.wasm", func(t *testing.T, dst string) { must(t, "", nil, "cp", "-p", core, dst) }},
		{"install -m 644", "wasm/install:v1", comp, "app.wasm", func(t *testing.T, dst string) {
			must(t, "", nil, "install", "-m", "644", comp, filepath.Join(filepath.Dir(dst), "app.wasm"))
		}},
		{"dd", "wasm/dd:v1", comp, "component.wasm", func(t *testing.T, dst string) {
			must(t, "", nil, "dd", "if="+comp, "of="+dst, "bs=4096", "status=none")
		}},
		{"shell >", "nested/deeper/shell:v1", core, "component.wasm", func(t *testing.T, dst string) {
			must(t, "", nil, "sh", "-c", `cat "$1" > "$2"`, "sh", core, dst)
		}},
		{"Go program", "wasm/go:v1", comp, "component.wasm", func(t *testing.T, dst string) {
			b, _ := os.ReadFile(comp)
			f, err := os.Create(dst)
			if err != nil {
				t.Fatal(err)
			}
			for len(b) > 0 { // several writes, as a streaming writer does
				n := min(len(b), 1000)
				if _, err := f.Write(b[:n]); err != nil {
					t.Fatal(err)
				}
				b = b[n:]
			}
			if err := f.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
		}},
		{"python shutil.copy", "wasm/python:v1", comp, "component.wasm", func(t *testing.T, dst string) {
			must(t, "", nil, "python3", "-c", "import shutil, sys; shutil.copy(sys.argv[1], sys.argv[2])", comp, dst)
		}},
	}
	for _, wr := range writers {
		t.Run(wr.name, func(t *testing.T) {
			repo, tag, _ := strings.Cut(wr.repoTag, ":")
			dir := w.path(filepath.Join(repo, tag))
			must(t, "", nil, "mkdir", "-p", dir)
			if n := w.puts(func() { wr.write(t, filepath.Join(dir, "component.wasm")) }); n != 1 {
				t.Errorf("%d manifest PUTs, want 1", n)
			}
			w.pushed(t, wr.repoTag, wr.file, wr.title)
			must(t, "", nil, "cmp", filepath.Join(dir, "component.wasm"), wr.file)
		})
	}
	// Concurrent writers to different tags work in parallel.
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dir := w.path("wasm/parallel/t" + string(rune('a'+i)))
			if r := run(t, "", nil, "sh", "-c", `mkdir -p "$1" && cp "$2" "$1/"`, "sh", dir, comp); r.err != nil {
				t.Errorf("parallel cp: %v %s", r.err, r.stderr)
			}
		}()
	}
	wg.Wait()
	for i := range 6 {
		w.pushed(t, "wasm/parallel:t"+string(rune('a'+i)), comp, componentFile)
	}
}

// TestRetagAndFailedPush: writing over a tag's component.wasm retags it; a push the registry
// refuses is an error from close, and the tag keeps its previous content.
func TestRetagAndFailedPush(t *testing.T) {
	w := newWriteEnv(t)
	comp, core := fixture(t, componentFile), fixture(t, coreFile)
	file := w.path("app/v1/component.wasm")
	must(t, "", nil, "mkdir", "-p", filepath.Dir(file))
	must(t, "", nil, "cp", comp, file)
	w.pushed(t, "app:v1", comp, "component.wasm")

	must(t, "", nil, "cp", core, file) // retag
	w.pushed(t, "app:v1", core, "component.wasm")
	fi, err := os.Stat(file)
	if want, _ := os.Stat(core); err != nil || fi.Size() != want.Size() {
		t.Fatalf("the mount shows %v after the retag, want %d bytes", fi, want.Size())
	}
	must(t, "", nil, "cmp", file, core)

	w.proxy.SetFault(testreg.Answer("PUT manifest", http.StatusInternalServerError))
	r := run(t, "", nil, "cp", comp, file)
	if r.err == nil {
		t.Fatal("cp succeeded although the registry refused the manifest")
	}
	if !strings.Contains(r.stderr, "Input/output error") {
		t.Errorf("cp said %q, want EIO", r.stderr)
	}
	w.proxy.SetFault(nil)
	w.pushed(t, "app:v1", core, "component.wasm") // unchanged
	must(t, "", nil, "cmp", file, core)

	// Non-Wasm bytes: EINVAL from close, nothing pushed.
	script := filepath.Join(t.TempDir(), "x.wasm")
	os.WriteFile(script, []byte("#!/bin/sh\necho not wasm\n"), 0o644)
	must(t, "", nil, "mkdir", "-p", w.path("app/bad"))
	n := w.puts(func() {
		r = run(t, "", nil, "cp", script, w.path("app/bad/"))
	})
	if r.err == nil || !strings.Contains(r.stderr, "Invalid argument") || n != 0 {
		t.Fatalf("cp of a shell script: %v %q, %d manifest PUTs", r.err, r.stderr, n)
	}
	if r := run(t, "", w.env, tool(t, "regctl"), "manifest", "get", w.host+"/app:bad"); r.err == nil {
		t.Fatal("a refused file was published")
	}
}

// TestFlushSemantics: one push per written content, whatever the number of closes; two writers
// of one tag each get their result and the last close wins.
func TestFlushSemantics(t *testing.T) {
	w := newWriteEnv(t)
	comp, core := fixture(t, componentFile), fixture(t, coreFile)
	compBytes, _ := os.ReadFile(comp)
	coreBytes, _ := os.ReadFile(core)
	os.MkdirAll(w.path("flush/v1"), 0o755)

	file := w.path("flush/v1/component.wasm")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(compBytes); err != nil {
		t.Fatal(err)
	}
	dup, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	if n := w.puts(func() {
		if err := syscall.Close(dup); err != nil {
			t.Errorf("close of the dup: %v", err)
		}
		if err := f.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}); n != 1 {
		t.Fatalf("two closes of one written content made %d manifest PUTs, want 1", n)
	}
	w.pushed(t, "flush:v1", comp, "component.wasm")

	// Two writers of one tag: each close succeeds, the last one wins.
	a, err := os.OpenFile(file, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.OpenFile(file, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a.Write(compBytes)
	b.Write(coreBytes)
	if err := a.Close(); err != nil {
		t.Fatalf("first writer: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second writer: %v", err)
	}
	w.pushed(t, "flush:v1", core, "component.wasm")

	// A writer that keeps receiving signals while close waits on a slow push (Go's runtime
	// sends SIGURG all the time): the push is not aborted and close reports its success.
	w.proxy.SetFault(testreg.Delay("PUT manifest", 700*time.Millisecond))
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				syscall.Kill(os.Getpid(), syscall.SIGURG)
			}
		}
	}()
	f, err = os.OpenFile(file, os.O_WRONLY|os.O_TRUNC, 0)
	if err == nil {
		_, err = f.Write(compBytes)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	close(stop)
	w.proxy.SetFault(nil)
	if err != nil {
		t.Fatalf("write and close under signals: %v", err)
	}
	w.pushed(t, "flush:v1", comp, "component.wasm")
	digest := make([]byte, 128)
	n, err := syscall.Getxattr(file, "user.oci.layer.digest", digest)
	if err != nil || string(digest[:n]) != "sha256:"+sha256Hex(t, comp) {
		t.Fatalf("the mount shows digest %q (%v) right after close, want sha256:%s", digest[:n], err, sha256Hex(t, comp))
	}
}

// TestRefusedOperations: each unsupported operation fails at once with its documented errno.
func TestRefusedOperations(t *testing.T) {
	w := newWriteEnv(t)
	comp := fixture(t, componentFile)
	compBytes, _ := os.ReadFile(comp)
	must(t, "", nil, "mkdir", "-p", w.path("refuse/v1"))
	must(t, "", nil, "cp", comp, w.path("refuse/v1/component.wasm"))
	file := w.path("refuse/v1/component.wasm")

	expectErrno := func(what string, err error, want syscall.Errno) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", what, err, want)
		}
	}
	expectErrno("rename", os.Rename(w.path("refuse/v1"), w.path("refuse/v2")), syscall.EPERM)
	expectErrno("rename a file", os.Rename(file, w.path("refuse/v1/other.wasm")), syscall.EPERM)
	expectErrno("link", os.Link(file, w.path("refuse/v1/hard.wasm")), syscall.EPERM)
	expectErrno("symlink", os.Symlink("component.wasm", w.path("refuse/v1/soft.wasm")), syscall.EPERM)
	expectErrno("unlink", os.Remove(file), syscall.EPERM)
	expectErrno("chown", os.Chown(file, 1000, 1000), syscall.EPERM)
	_, err := os.OpenFile(w.path("refuse/v1/append.wasm"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	expectErrno("O_APPEND", err, syscall.ENOTSUP)
	expectErrno("mkdir of an upper-case repository", os.Mkdir(w.path("Upper"), 0o755), syscall.EINVAL)
	expectErrno("mkdir of an invalid tag", os.Mkdir(w.path("refuse/-v"), 0o755), syscall.EINVAL)
	expectErrno("a file outside a tag folder", os.WriteFile(w.path("refuse/x.wasm"), compBytes, 0o644), syscall.EPERM)

	f, err := os.Create(w.path("refuse/v3/component.wasm"))
	expectErrno("create in a folder that does not exist", err, syscall.ENOENT)
	must(t, "", nil, "mkdir", "-p", w.path("refuse/v3"))
	n := w.puts(func() {
		f, err = os.Create(w.path("refuse/v3/component.wasm"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.WriteAt(compBytes, 100)
		expectErrno("a write that leaves a hole", err, syscall.ENOTSUP)
		if _, err := f.Write(compBytes[:100]); err != nil {
			t.Fatal(err)
		}
		expectErrno("truncate to a size other than 0", f.Truncate(10), syscall.ENOTSUP)
		if err := f.Chmod(0o600); err != nil {
			t.Errorf("chmod while writing: %v", err)
		}
		if err := os.Chtimes(f.Name(), time.Now(), time.Unix(1700000000, 0)); err != nil {
			t.Errorf("utimens while writing: %v", err)
		}
		if fi, err := os.Stat(f.Name()); err != nil || fi.Size() != 100 || fi.Mode().Perm() != 0o600 {
			t.Errorf("stat while writing: %v %v, want 100 bytes, mode 0600", fi, err)
		}
		if _, err := f.Write(compBytes[100:]); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
	})
	if n != 1 {
		t.Fatalf("%d manifest PUTs, want 1", n)
	}
	w.pushed(t, "refuse:v3", comp, "component.wasm")

	// rmdir drops a folder made with mkdir that holds nothing.
	must(t, "", nil, "mkdir", "-p", w.path("refuse/typo"))
	if err := os.Remove(w.path("refuse/typo")); err != nil {
		t.Errorf("rmdir of an empty pending folder: %v", err)
	}
	expectErrno("rmdir of a published tag", os.Remove(w.path("refuse/v1")), syscall.EPERM)
}

// TestReadOnlyMountRefusesWrites: --read-only makes every write fail with EROFS.
func TestReadOnlyMountRefusesWrites(t *testing.T) {
	w := newWriteEnv(t, "--read-only")
	err := os.MkdirAll(w.path("ro/v1"), 0o755)
	if !errors.Is(err, syscall.EROFS) {
		t.Fatalf("mkdir on --read-only: %v, want EROFS", err)
	}
	r := run(t, "", nil, "cp", fixture(t, componentFile), w.path("x.wasm"))
	if r.err == nil || !strings.Contains(r.stderr, "Read-only file system") {
		t.Fatalf("cp on --read-only: %v %q", r.err, r.stderr)
	}
}

// TestLocalStoreWriteThroughMount: cp in and cat out with no registry; regctl and oras read
// the layout it wrote.
func TestLocalStoreWriteThroughMount(t *testing.T) {
	data := t.TempDir()
	env := []string{"XDG_DATA_HOME=" + data, "XDG_CACHE_HOME=" + t.TempDir()}
	m := mountBinary(t, env)
	comp := fixture(t, componentFile)
	must(t, "", nil, "mkdir", "-p", filepath.Join(m.dir, "wasm/local/v1"))
	must(t, "", nil, "cp", comp, filepath.Join(m.dir, "wasm/local/v1/"))
	out := must(t, "", nil, "cat", filepath.Join(m.dir, "wasm/local/v1/component.wasm"))
	if want, _ := os.ReadFile(comp); out != string(want) {
		t.Fatal("cat returned other bytes")
	}
	layout := filepath.Join(data, "stuffed", "wasm", "local")
	tenv := toolEnv(t, "")
	raw := must(t, "", tenv, tool(t, "regctl"), "manifest", "get", "ocidir://"+layout+":v1", "--format", "raw-body")
	if !strings.Contains(raw, "sha256:"+sha256Hex(t, comp)) {
		t.Fatalf("regctl reads: %s", raw)
	}
	orasDir := t.TempDir()
	must(t, "", tenv, tool(t, "oras"), "pull", "--oci-layout", layout+":v1", "-o", orasDir)
	must(t, "", nil, "cmp", filepath.Join(orasDir, componentFile), comp)
}
