// Package testreg starts real registries for tests: CNCF Distribution v3 in-process behind an
// httptest server on 127.0.0.1 (filesystem storage under t.TempDir), and a fault-injecting,
// request-counting reverse proxy to put in front of it.
package testreg

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem" // storage driver
	"github.com/sirupsen/logrus"
)

// Registry is a running in-process registry.
type Registry struct {
	Server *httptest.Server
	Host   string // 127.0.0.1:port
}

// Start runs CNCF Distribution on 127.0.0.1 until the test ends. catalogMax bounds the page
// size of _catalog (0 = the registry's default of 1000).
func Start(t testing.TB, catalogMax int) *Registry {
	t.Helper()
	logrus.SetOutput(io.Discard)
	cfg := &configuration.Configuration{}
	cfg.Storage = configuration.Storage{
		"filesystem":  configuration.Parameters{"rootdirectory": t.TempDir()},
		"delete":      configuration.Parameters{"enabled": true},
		"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
	}
	if catalogMax <= 0 {
		catalogMax = 1000 // the registry's YAML default; a zero here would list nothing
	}
	cfg.Catalog.MaxEntries = catalogMax
	cfg.Log.Level = "error"
	cfg.Log.AccessLog.Disabled = true
	app := handlers.NewApp(context.Background(), cfg)
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	return &Registry{Server: srv, Host: strings.TrimPrefix(srv.URL, "http://")}
}

// Fault decides what the proxy does with one request; returning true means it answered.
type Fault func(w http.ResponseWriter, r *http.Request) bool

// Proxy is a reverse proxy in front of a registry that counts requests per route and can
// inject faults.
type Proxy struct {
	Host     string
	upstream string

	mu     sync.Mutex
	counts map[string]int
	fault  Fault
}

// NewProxy starts a proxy on 127.0.0.1 in front of target.
func NewProxy(t testing.TB, target *Registry) *Proxy {
	return NewProxyTo(t, target.Server.URL)
}

// NewProxyTo starts a proxy on 127.0.0.1 in front of the registry at upstream (http://host:port).
func NewProxyTo(t testing.TB, upstream string) *Proxy {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &Proxy{counts: map[string]int{}, upstream: upstream}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.counts[Route(r)]++
		fault := p.fault
		p.mu.Unlock()
		if fault != nil && fault(w, r) {
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.Host = strings.TrimPrefix(srv.URL, "http://")
	return p
}

// SetFault installs (or with nil removes) a fault.
func (p *Proxy) SetFault(f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault = f
}

// Count is how many requests reached route, e.g. "GET blob" or "PUT manifest".
func (p *Proxy) Count(route string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[route]
}

// Route names a registry request by method and resource: "GET blob", "HEAD manifest",
// "GET tags", "GET catalog", "PUT manifest", "POST upload", "PUT upload", "GET ping".
func Route(r *http.Request) string {
	p := r.URL.Path
	kind := "other"
	switch {
	case p == "/v2/" || p == "/v2":
		kind = "ping"
	case strings.HasPrefix(p, "/v2/_catalog"):
		kind = "catalog"
	case strings.Contains(p, "/blobs/uploads"):
		kind = "upload"
	case strings.Contains(p, "/blobs/"):
		kind = "blob"
	case strings.Contains(p, "/manifests/"):
		kind = "manifest"
	case strings.HasSuffix(p, "/tags/list"):
		kind = "tags"
	}
	return r.Method + " " + kind
}

// RewriteBody is a fault that answers requests to route with the upstream's answer, its body
// passed through rewrite (to flip, truncate or pad bytes).
func (p *Proxy) RewriteBody(route string, rewrite func([]byte) []byte) Fault {
	return p.SlowBody(route, math.MaxInt, 0, rewrite)
}

// Answer is a fault that answers requests to route with status and an OCI error body.
func Answer(route string, status int) Fault {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if Route(r) != route {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="stuffed-test"`)
		}
		w.WriteHeader(status)
		io.WriteString(w, `{"errors":[{"code":"UNSUPPORTED","message":"injected by the test proxy"}]}`)
		return true
	}
}

// Delay is a fault that holds requests to route for d before passing them on.
func Delay(route string, d time.Duration) Fault {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if Route(r) == route {
			time.Sleep(d)
		}
		return false
	}
}

// Silent starts a listener on 127.0.0.1 that accepts connections and never answers: a
// registry that hangs. It returns host:port.
func Silent(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// RequireFUSE skips a test when /dev/fuse is missing, unless STUFFED_REQUIRE_FUSE is set
// (as in CI), where a missing /dev/fuse fails the test instead.
func RequireFUSE(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		if os.Getenv("STUFFED_REQUIRE_FUSE") != "" {
			t.Fatalf("/dev/fuse is required (STUFFED_REQUIRE_FUSE is set): %v", err)
		}
		t.Skipf("no /dev/fuse: %v", err)
	}
}

// Hang is a fault that never answers requests to route: it holds them until the client
// gives up.
func Hang(route string) Fault {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if Route(r) != route && route != "" {
			return false
		}
		<-r.Context().Done()
		return true
	}
}

// AnswerRetryAfter is a fault that answers requests to route with status and a Retry-After
// header of retryAfter.
func AnswerRetryAfter(route string, status int, retryAfter string) Fault {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if Route(r) != route {
			return false
		}
		w.Header().Set("Retry-After", retryAfter)
		w.WriteHeader(status)
		return true
	}
}

// Times applies fault to the first n requests it answers, then lets requests through.
func Times(n int, fault Fault) Fault {
	var mu sync.Mutex
	return func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		if n <= 0 {
			mu.Unlock()
			return false
		}
		mu.Unlock()
		if !fault(w, r) {
			return false
		}
		mu.Lock()
		n--
		mu.Unlock()
		return true
	}
}

// SlowBody is a fault that sends the upstream's answer to route in chunks of chunk bytes,
// delay apart, after rewrite (nil keeps the bytes).
func (p *Proxy) SlowBody(route string, chunk int, delay time.Duration, rewrite func([]byte) []byte) Fault {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if Route(r) != route {
			return false
		}
		resp, body, err := p.fetchUpstream(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return true
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		if resp.StatusCode == http.StatusOK && rewrite != nil {
			body = rewrite(body)
			w.Header().Del("Docker-Content-Digest") // a lying registry does not sign its lie
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(resp.StatusCode)
		flusher, _ := w.(http.Flusher)
		for len(body) > 0 {
			n := min(chunk, len(body))
			if _, err := w.Write(body[:n]); err != nil {
				return true
			}
			if flusher != nil {
				flusher.Flush()
			}
			body = body[n:]
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return true
			}
		}
		return true
	}
}

func (p *Proxy) fetchUpstream(r *http.Request) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.upstream+r.URL.RequestURI(), nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// fuseConnections are the FUSE connections of the mounts this test process serves.
var fuseConnections struct {
	sync.Mutex
	minors []uint64
	dirs   []string
}

// TrackMount records the FUSE connection of a mount this process serves, read while it is
// healthy, so that the watchdog can abort it.
func TrackMount(t testing.TB, dir string) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		t.Fatalf("stat the new mount %s: %v", dir, err)
	}
	fuseConnections.Lock()
	defer fuseConnections.Unlock()
	fuseConnections.minors = append(fuseConnections.minors, FuseConnection(st.Dev))
	fuseConnections.dirs = append(fuseConnections.dirs, dir)
}

// FuseConnection is the number of a mount's FUSE connection in /sys/fs/fuse/connections:
// the minor of its device number.
func FuseConnection(dev uint64) uint64 { return (dev & 0xff) | ((dev >> 12) & 0xfff00) }

// Watchdog stops a test process that serves its own FUSE mounts before `go test -timeout`
// would: a process killed while one of its goroutines waits on its own mount cannot exit
// (closing the file waits for a server that is gone). After d it aborts those connections,
// so every waiting request fails at once, and exits with an error.
func Watchdog(d time.Duration) {
	time.AfterFunc(d, func() {
		fmt.Fprintf(os.Stderr, "testreg watchdog: the tests ran over %s; aborting their FUSE mounts\n", d)
		const fusectl = "/sys/fs/fuse/connections"
		if _, err := os.Stat(fusectl + "/abort"); err != nil {
			syscall.Mount("fusectl", fusectl, "fusectl", 0, "")
		}
		fuseConnections.Lock()
		for _, m := range fuseConnections.minors {
			os.WriteFile(fmt.Sprintf("%s/%d/abort", fusectl, m), []byte("1"), 0o200)
		}
		for _, dir := range fuseConnections.dirs {
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
		fuseConnections.Unlock()
		panic("testreg watchdog: tests ran too long (see the goroutines below)")
	})
}
