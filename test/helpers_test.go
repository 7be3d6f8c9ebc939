// Package test holds the end-to-end tests: the built stuffedfs binary, a real CNCF
// Distribution registry process (Debian's docker-registry) on 127.0.0.1, real mounts, and
// real programs (cp, cat, cmp, stat, regctl, oras, wazero, jco) driving them.
package test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stuffed-dev/stuffed/internal/testreg"
)

var stuffedBin string // built once by TestMain

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stuffed-e2e-bin")
	if err != nil {
		panic(err)
	}
	stuffedBin = filepath.Join(dir, "stuffedfs")
	build := exec.Command("go", "build", "-o", stuffedBin, "../cmd/stuffedfs")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build stuffedfs:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// tool finds a program the tests drive; `make tools` installs them all.
func tool(t testing.TB, name string) string {
	t.Helper()
	for _, dir := range []string{"../.tools/bin", "node_modules/.bin"} {
		if p, err := filepath.Abs(filepath.Join(dir, name)); err == nil {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: run `make tools` (the tests need it): %v", name, err)
	}
	return p
}

// cmdResult is what a program printed and how it exited.
type cmdResult struct {
	stdout, stderr string
	err            error
}

// run runs a program with extra environment variables, in dir if not empty.
func run(t testing.TB, dir string, env []string, name string, args ...string) cmdResult {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return cmdResult{out.String(), errb.String(), err}
}

// must runs a program and fails the test if it fails.
func must(t testing.TB, dir string, env []string, name string, args ...string) string {
	t.Helper()
	r := run(t, dir, env, name, args...)
	if r.err != nil {
		t.Fatalf("%s %s: %v\nstdout: %s\nstderr: %s", filepath.Base(name), strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r.stdout
}

// startRegistry runs CNCF Distribution 2.8 (Debian's docker-registry) on 127.0.0.1 with
// filesystem storage, until the test ends. It returns host:port.
func startRegistry(t testing.TB) string {
	t.Helper()
	return startRegistryWith(t, "")
}

// startRegistryWith adds extra YAML (such as an auth section) to the registry's config.
func startRegistryWith(t testing.TB, extraConfig string) string {
	t.Helper()
	bin := tool(t, "docker-registry")
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	config := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s/data
  delete:
    enabled: true
http:
  addr: %s
%s`, dir, host, extraConfig)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return host
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry did not start on %s: %v\n%s", host, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for a process writing while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// mountProc is a running `stuffedfs mount`.
type mountProc struct {
	dir    string
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan error
	killed bool
}

// mountBinary runs `stuffedfs mount ARGS DIR` in a new folder and waits until it is mounted.
// When the test ends it is stopped with SIGTERM, which must make it exit 0 with nothing left
// mounted.
func mountBinary(t testing.TB, env []string, args ...string) *mountProc {
	t.Helper()
	return mountBinaryAt(t, t.TempDir(), env, args...)
}

// mountBinaryAt is mountBinary on a given folder (which may hold a dead mount).
func mountBinaryAt(t testing.TB, dir string, env []string, args ...string) *mountProc {
	t.Helper()
	testreg.RequireFUSE(t)
	cmd := exec.Command(stuffedBin, append(append([]string{"mount"}, args...), dir)...)
	cmd.Env = append(os.Environ(), env...)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m := &mountProc{dir: dir, cmd: cmd, logs: logs, exited: make(chan error, 1)}
	go func() { m.exited <- cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(logs.String(), "msg=mounted") || !mounted(dir) {
		select {
		case err := <-m.exited:
			t.Fatalf("stuffedfs mount exited: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was not mounted within 15s\n%s", dir, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() {
		m.stop(t)
		if t.Failed() {
			t.Logf("stuffedfs mount %s logged:\n%s", dir, logs.String())
		}
	})
	return m
}

// stop sends SIGTERM and checks the clean exit.
func (m *mountProc) stop(t testing.TB) {
	t.Helper()
	if m.killed {
		return
	}
	m.cmd.Process.Signal(syscall.SIGTERM)
	m.wait(t)
}

// kill ends the process with SIGKILL, as a crash would, leaving its mount dead.
func (m *mountProc) kill(t testing.TB) {
	t.Helper()
	m.killed = true
	m.cmd.Process.Kill()
	t.Cleanup(func() { // if nothing mounted over it again, clear the dead mount
		if _, err := os.Stat(m.dir); errors.Is(err, syscall.ENOTCONN) {
			syscall.Unmount(m.dir, syscall.MNT_DETACH)
		}
	})
	select {
	case <-m.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("stuffedfs did not die on SIGKILL")
	}
}

// wait checks that the mount process exits 0 and leaves nothing mounted.
func (m *mountProc) wait(t testing.TB) {
	t.Helper()
	select {
	case err := <-m.exited:
		if err != nil {
			t.Errorf("stuffedfs mount exited with %v\n%s", err, m.logs.String())
		}
		m.exited <- err // a later wait sees the same result
	case <-time.After(20 * time.Second):
		m.cmd.Process.Kill()
		syscall.Unmount(m.dir, syscall.MNT_DETACH)
		t.Fatalf("stuffedfs mount did not exit\n%s", m.logs.String())
	}
	if mounted(m.dir) {
		syscall.Unmount(m.dir, syscall.MNT_DETACH)
		t.Errorf("%s is still mounted after stuffedfs exited", m.dir)
	}
}

// mounted says whether dir is a mount point, from /proc/self/mountinfo.
func mounted(dir string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

func fixture(t testing.TB, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
