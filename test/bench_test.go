package test

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Benchmarks: `make bench`. Each compares stuffedfs with a peer doing the same work against
// the same registry process in the same run: compare their MB/s. STUFFED_BENCH_MB sets the
// component size (default 64).

func benchSize() int {
	if n, err := strconv.Atoi(os.Getenv("STUFFED_BENCH_MB")); err == nil && n > 0 {
		return n << 20
	}
	return 64 << 20
}

// benchWasm writes a valid core module of about size bytes of random padding: every call
// gives other bytes, so no push can skip an upload the registry already has.
func benchWasm(b *testing.B, size int) string {
	b.Helper()
	payload := make([]byte, size)
	rand.Read(payload)
	copy(payload, []byte{4, 'p', 'a', 'd', 0})
	var leb []byte
	for n := len(payload); ; {
		c := byte(n & 0x7f)
		if n >>= 7; n != 0 {
			leb = append(leb, c|0x80)
			continue
		}
		leb = append(leb, c)
		break
	}
	mod := append(append([]byte("\x00asm\x01\x00\x00\x00\x00"), leb...), payload...)
	p := filepath.Join(b.TempDir(), "bench.wasm")
	if err := os.WriteFile(p, mod, 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}

// benchRegistry starts a registry holding one big component as bench/read:v1.
func benchRegistry(b *testing.B) (host, file string, env []string) {
	b.Helper()
	host = startRegistry(b)
	env = toolEnv(b, host)
	file = benchWasm(b, benchSize())
	must(b, "", env, stuffedBin, "push", "--reference", host+"/bench/read:v1", "--root-path", file, "-i")
	return host, file, env
}

// BenchmarkRead compares reading a component: through a mount with a cold cache (download,
// verify, serve), through a warm mount, and the peers: curl of the blob (the HTTP limit) and
// regctl blob get (a verifying client).
func BenchmarkRead(b *testing.B) {
	host, file, env := benchRegistry(b)
	size := int64(benchSize())
	digest := "sha256:" + sha256Hex(b, file)
	cat := func(path string) { must(b, "", nil, "sh", "-c", `cat "$1" > /dev/null`, "sh", path) }

	b.Run("mount-cold", func(b *testing.B) {
		b.SetBytes(size)
		for range b.N {
			b.StopTimer()
			m := mountBinary(b, nil, "--registry", host, "-i", "--cache-dir", b.TempDir())
			b.StartTimer()
			cat(filepath.Join(m.dir, "bench/read/v1/component.wasm"))
			b.StopTimer()
			m.stop(b)
			b.StartTimer()
		}
	})
	b.Run("mount-warm", func(b *testing.B) {
		m := mountBinary(b, nil, "--registry", host, "-i", "--cache-dir", b.TempDir())
		path := filepath.Join(m.dir, "bench/read/v1/component.wasm")
		cat(path)
		b.SetBytes(size)
		b.ResetTimer()
		for range b.N {
			cat(path)
		}
	})
	b.Run("curl", func(b *testing.B) {
		b.SetBytes(size)
		for range b.N {
			must(b, "", nil, "curl", "-sf", "-o", "/dev/null", "http://"+host+"/v2/bench/read/blobs/"+digest)
		}
	})
	b.Run("regctl-blob-get", func(b *testing.B) {
		b.SetBytes(size)
		for range b.N {
			must(b, "", env, "sh", "-c", `"$1" blob get "$2" "$3" > /dev/null`, "sh", tool(b, "regctl"), host+"/bench/read", digest)
		}
	})
}

// BenchmarkPush compares publishing a new component: cp into the mount (staged on disk,
// pushed on close), `stuffedfs push`, and the peer `oras push`. The mount's peak resident
// memory is reported: written bytes are staged on disk, not held in memory.
func BenchmarkPush(b *testing.B) {
	host, _, env := benchRegistry(b)
	size := int64(benchSize())
	b.Run("mount-cp", func(b *testing.B) {
		m := mountBinary(b, nil, "--registry", host, "-i", "--cache-dir", b.TempDir())
		b.SetBytes(size)
		for i := range b.N {
			b.StopTimer()
			src := benchWasm(b, int(size))
			dir := filepath.Join(m.dir, "bench/cp", fmt.Sprintf("t%d", i))
			must(b, "", nil, "mkdir", "-p", dir)
			b.StartTimer()
			must(b, "", nil, "cp", src, dir+"/")
		}
		b.StopTimer()
		b.ReportMetric(peakRSSMiB(b, m.cmd.Process.Pid), "mount-peak-RSS-MiB")
	})
	b.Run("stuffedfs-push", func(b *testing.B) {
		b.SetBytes(size)
		for i := range b.N {
			b.StopTimer()
			src := benchWasm(b, int(size))
			b.StartTimer()
			must(b, "", nil, stuffedBin, "push", "-i", "--reference", fmt.Sprintf("%s/bench/cli:t%d", host, i), "--root-path", src)
		}
	})
	b.Run("oras-push", func(b *testing.B) {
		b.SetBytes(size)
		for i := range b.N {
			b.StopTimer()
			src := benchWasm(b, int(size))
			b.StartTimer()
			must(b, filepath.Dir(src), env, tool(b, "oras"), "push", "--plain-http", fmt.Sprintf("%s/bench/oras:t%d", host, i), filepath.Base(src)+":application/wasm")
		}
	})
}

// peakRSSMiB reads a process's peak resident memory (VmHWM).
func peakRSSMiB(b *testing.B, pid int) float64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return float64(kb) / 1024
		}
	}
	b.Fatal("no VmHWM in /proc/PID/status")
	return 0
}
