// Package registry is the one place that speaks to OCI registries (through regclient) and to
// the embedded local store (an OCI image layout per repository, regclient's ocidir scheme).
//
//	registry.Client
//	├── Repos / Tags          listings (_catalog and tags/list, every page)
//	├── Resolve               tag or digest -> Artifact (the Wasm layer's descriptor)
//	├── OpenBlob              a layer's bytes, with a stall watchdog
//	└── Push                  blob, config, then manifest last
//
// Everything it returns wraps one of the sentinel errors in errors.go, and every call has a
// deadline, so a registry that never answers gives an error, never a hang.
package registry

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/regclient/regclient"
	"github.com/regclient/regclient/config"
	"github.com/regclient/regclient/scheme/ocidir"
	"github.com/regclient/regclient/scheme/reg"
	"github.com/regclient/regclient/types/ref"
)

// Client reads and writes Wasm artifacts in one registry, or in the local store.
type Client struct {
	rc           *regclient.RegClient
	host         string // registry host[:port]; empty for the local store
	localRoot    string // the local store's folder, when host is empty
	timeout      time.Duration
	stallTimeout time.Duration
	maxBlobSize  int64
	log          *slog.Logger

	locks keyedMutex // pushes of one tag, and uploads of one content, take turns
}

// Opt configures a Client.
type Opt func(*options)

type options struct {
	host       string
	plainHTTP  bool
	caFile     string
	skipVerify bool
	localRoot  string
	timeout    time.Duration
	stall      time.Duration
	maxBlob    int64
	log        *slog.Logger
}

// WithHost selects a registry (host or host:port). Without it the client uses the local store.
func WithHost(host string) Opt { return func(o *options) { o.host = host } }

// WithPlainHTTP speaks HTTP without TLS to the registry host: an explicit opt-in.
func WithPlainHTTP(plain bool) Opt { return func(o *options) { o.plainHTTP = plain } }

// WithCAFile trusts the PEM certificates in file for the registry's TLS, besides the system's
// and Docker's /etc/docker/certs.d/<host>.
func WithCAFile(file string) Opt { return func(o *options) { o.caFile = file } }

// WithTLSSkipVerify speaks TLS without verifying the registry's certificate: an explicit
// opt-in for self-signed test registries.
func WithTLSSkipVerify(skip bool) Opt { return func(o *options) { o.skipVerify = skip } }

// WithLocalRoot sets the local store's folder (default: DefaultLocalRoot).
func WithLocalRoot(dir string) Opt { return func(o *options) { o.localRoot = dir } }

// WithTimeout bounds every metadata call (listing, manifest, push step).
func WithTimeout(d time.Duration) Opt { return func(o *options) { o.timeout = d } }

// WithStallTimeout bounds how long a blob download may go without receiving a byte.
func WithStallTimeout(d time.Duration) Opt { return func(o *options) { o.stall = d } }

// WithMaxBlobSize refuses, without a request, any blob whose descriptor claims more bytes.
func WithMaxBlobSize(n int64) Opt { return func(o *options) { o.maxBlob = n } }

// WithLogger sets the logger for this package and regclient.
func WithLogger(l *slog.Logger) Opt { return func(o *options) { o.log = l } }

// DefaultMaxBlobSize bounds the blobs a client fetches unless told otherwise.
const DefaultMaxBlobSize = 2 << 30

// DefaultLocalRoot is $XDG_DATA_HOME/stuffed, else ~/.local/share/stuffed.
func DefaultLocalRoot() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "stuffed"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the local store: set XDG_DATA_HOME or HOME: %w", err)
	}
	return filepath.Join(home, ".local", "share", "stuffed"), nil
}

// New builds a Client. Credentials come from Docker's config and credential helpers.
func New(opts ...Opt) (*Client, error) {
	o := options{timeout: 30 * time.Second, stall: 60 * time.Second, maxBlob: DefaultMaxBlobSize, log: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	log := slog.New(RedactingHandler(o.log.Handler()))
	c := &Client{host: o.host, timeout: o.timeout, stallTimeout: o.stall, maxBlobSize: o.maxBlob, log: log}
	rcOpts := []regclient.Opt{
		regclient.WithSlog(log),
		regclient.WithUserAgent("stuffed"),
		regclient.WithDockerCreds(),
		regclient.WithRetryLimit(3),
		regclient.WithRetryDelay(200*time.Millisecond, 2*time.Second),
		regclient.WithRegOpts(reg.WithManifestMax(maxManifestSize, maxManifestSize)),
		regclient.WithOCIDirOpts(ocidir.WithManifestMax(maxManifestSize, maxManifestSize)),
	}
	if o.host == "" {
		root := o.localRoot
		if root == "" {
			var err error
			if root, err = DefaultLocalRoot(); err != nil {
				return nil, err
			}
		}
		abs, err := filepath.Abs(root)
		if err != nil {
			return nil, fmt.Errorf("local store %s: %w", root, err)
		}
		c.localRoot = abs
	} else {
		if strings.Contains(o.host, "/") {
			return nil, fmt.Errorf("%w: registry %q must be a host or host:port, without a scheme or path",
				ErrInvalidName, o.host)
		}
		h := config.HostNewName(o.host)
		if o.plainHTTP {
			h.TLS = config.TLSDisabled
		}
		transport, err := newTransport(o.host, o.caFile, o.skipVerify)
		if err != nil {
			return nil, err
		}
		rcOpts = append(rcOpts, regclient.WithConfigHost(*h),
			regclient.WithRegOpts(reg.WithHTTPClient(&http.Client{Transport: transport})))
	}
	c.rc = regclient.New(rcOpts...)
	return c, nil
}

// Local says whether the client works on the local store.
func (c *Client) Local() bool { return c.host == "" }

// Location names where the client reads and writes, for messages.
func (c *Client) Location() string {
	if c.Local() {
		return c.localRoot
	}
	return c.host
}

// ref builds the regclient reference for repo and a tag or digest.
func (c *Client) ref(repo, reference string) (ref.Ref, error) {
	check := CheckRepo
	if c.Local() {
		check = checkLocalRepo
	}
	if err := check(repo); err != nil {
		return ref.Ref{}, err
	}
	var r ref.Ref
	if c.Local() {
		r = ref.Ref{Scheme: "ocidir", Path: filepath.Join(c.localRoot, filepath.FromSlash(repo))}
		r.Reference = "ocidir://" + r.Path
	} else {
		r = ref.Ref{Scheme: "reg", Registry: c.host, Repository: repo}
		r.Reference = c.host + "/" + repo
	}
	switch {
	case reference == "":
	case strings.HasPrefix(reference, "sha256:"):
		if err := CheckDigest(reference); err != nil {
			return ref.Ref{}, err
		}
		r.Digest = reference
		r.Reference += "@" + reference
	default:
		if err := CheckTag(reference); err != nil {
			return ref.Ref{}, err
		}
		r.Tag = reference
		r.Reference += ":" + reference
	}
	return r, nil
}

// withTimeout gives a metadata call its deadline.
func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}
