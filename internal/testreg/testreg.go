// Package testreg starts real registries for tests: CNCF Distribution v3 in-process behind an
// httptest server on 127.0.0.1 (filesystem storage under t.TempDir), and a fault-injecting,
// request-counting reverse proxy to put in front of it.
package testreg

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

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
	Host string

	mu     sync.Mutex
	counts map[string]int
	fault  Fault
}

// NewProxy starts a proxy on 127.0.0.1 in front of target.
func NewProxy(t testing.TB, target *Registry) *Proxy {
	t.Helper()
	u, _ := url.Parse(target.Server.URL)
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &Proxy{counts: map[string]int{}}
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
