package test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stuffed-dev/stuffed/internal/testreg"
)

// TestDaemonKilledMidReadAndMidPush: stuffedfs killed with SIGKILL while a blob downloads and
// while a push waits on its manifest: the tag points at the old or the complete new artifact,
// `stuffedfs mount` on the same folder clears the dead mount and works, and half-written
// cache and staging files are discarded.
func TestDaemonKilledMidReadAndMidPush(t *testing.T) {
	host := startRegistry(t)
	env := toolEnv(t, host)
	proxy := testreg.NewProxyTo(t, "http://"+host)
	comp, core := fixture(t, componentFile), fixture(t, coreFile)
	must(t, "", env, stuffedBin, "push", "--reference", host+"/app:v1", "--root-path", comp, "-i")
	cacheDir := t.TempDir()
	args := []string{"--registry", proxy.Host, "-i", "--cache-dir", cacheDir}

	// Mid-read.
	first := mountBinary(t, nil, args...)
	dir := first.dir
	file := filepath.Join(dir, "app/v1/component.wasm")
	proxy.SetFault(proxy.SlowBody("GET blob", 512, 50*time.Millisecond, nil)) // about 2 seconds
	cat := exec.Command("cat", file)
	if err := cat.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	first.kill(t)
	if err := cat.Wait(); err == nil {
		t.Error("cat of a file whose server was killed succeeded")
	}
	if _, err := os.Stat(dir); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("after SIGKILL the folder says %v, want ENOTCONN (a dead mount)", err)
	}
	proxy.SetFault(nil)

	second := mountBinaryAt(t, dir, nil, args...)
	must(t, "", nil, "cmp", file, comp)

	// Mid-push: killed after the blob is uploaded, while the manifest PUT waits.
	proxy.SetFault(testreg.Delay("PUT manifest", 3*time.Second))
	cp := exec.Command("cp", core, file)
	if err := cp.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for proxy.Count("PUT manifest") == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	second.kill(t)
	if err := cp.Wait(); err == nil {
		t.Error("cp whose server was killed mid-push succeeded")
	}
	proxy.SetFault(nil)

	// The tag is the old artifact or the complete new one, and its blobs are all there.
	raw := must(t, "", env, tool(t, "regctl"), "manifest", "get", host+"/app:v1", "--format", "raw-body")
	var m manifestJSON
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatal(err)
	}
	layer := m.Layers[0].Digest
	if layer != "sha256:"+sha256Hex(t, comp) && layer != "sha256:"+sha256Hex(t, core) {
		t.Fatalf("the tag points at %s, neither the old nor the new component", layer)
	}
	must(t, "", env, tool(t, "regctl"), "blob", "get", host+"/app", layer)
	must(t, "", env, tool(t, "regctl"), "blob", "get", host+"/app", m.Config.Digest)

	third := mountBinaryAt(t, dir, nil, args...)
	if out := must(t, "", nil, "cat", file); len(out) == 0 {
		t.Fatal("empty read after two crashes")
	}
	for _, sub := range []string{"tmp", "staging"} {
		if left, _ := os.ReadDir(filepath.Join(cacheDir, sub)); len(left) != 0 {
			t.Errorf("%s holds %d files from the killed runs", sub, len(left))
		}
	}
	third.stop(t)
}
