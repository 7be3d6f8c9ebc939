package registry

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Bounds and retry policy of guardTransport.
const (
	maxListingBody  = 16 << 20 // a _catalog or tags/list page larger than this is refused
	maxRetries      = 4        // of a GET or HEAD answered 429 or 503
	maxRetryWait    = 2 * time.Second
	firstRetryDelay = 100 * time.Millisecond
)

// dockerCertsDir holds per-host CA certificates, as Docker reads them.
const dockerCertsDir = "/etc/docker/certs.d"

// guardTransport sits under regclient for every registry request: it retries GET and HEAD
// answered 429 or 503 (honouring Retry-After, capped, and never past the request's deadline;
// regclient itself does not retry 503), and bounds the body of listings, which regclient
// reads whole into memory.
type guardTransport struct {
	base http.RoundTripper
}

func (g *guardTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		resp, err := g.base.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		if retryable(req, resp) && attempt < maxRetries {
			wait := retryWait(resp, attempt)
			deadline, ok := req.Context().Deadline()
			if !ok || time.Until(deadline) > wait {
				io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
				resp.Body.Close()
				select {
				case <-time.After(wait):
					continue
				case <-req.Context().Done():
					return nil, req.Context().Err()
				}
			}
		}
		if isListing(req) {
			resp.Body = &boundedBody{body: resp.Body, left: maxListingBody}
		}
		return resp, nil
	}
}

func retryable(req *http.Request, resp *http.Response) bool {
	return (req.Method == http.MethodGet || req.Method == http.MethodHead) &&
		(resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable)
}

// retryWait is the Retry-After the registry asked for (seconds or an HTTP date), else an
// exponential backoff; either capped at maxRetryWait.
func retryWait(resp *http.Response, attempt int) time.Duration {
	wait := firstRetryDelay << attempt
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if secs, err := strconv.Atoi(ra); err == nil && secs >= 0 {
			wait = time.Duration(secs) * time.Second
		} else if at, err := http.ParseTime(ra); err == nil {
			wait = time.Until(at)
		}
	}
	return min(max(wait, 0), maxRetryWait)
}

func isListing(req *http.Request) bool {
	p := req.URL.Path
	return strings.HasSuffix(p, "/tags/list") || strings.HasSuffix(p, "/_catalog")
}

var errListingTooLarge = fmt.Errorf("%w: the registry's listing is over %d MiB", ErrTooLarge, maxListingBody>>20)

type boundedBody struct {
	body io.ReadCloser
	left int64
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errListingTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.body.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *boundedBody) Close() error { return b.body.Close() }

// newTransport builds the HTTP transport for host. TLS is verified against the system's
// roots, Docker's /etc/docker/certs.d/<host>/*.crt and caFile; skipVerify turns verification
// off (an explicit opt-in, logged by the caller). It is never a fallback to plain HTTP.
func newTransport(host, caFile string, skipVerify bool) (http.RoundTripper, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	var pems []string
	if files, err := filepath.Glob(filepath.Join(dockerCertsDir, host, "*.crt")); err == nil {
		pems = append(pems, files...)
	}
	if caFile != "" {
		pems = append(pems, caFile)
	}
	for _, f := range pems {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read CA certificate: %w", err)
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("%w: %s holds no PEM certificate", ErrInvalidName, f)
		}
	}
	base, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return nil, errors.New("http.DefaultTransport is not an *http.Transport")
	}
	t := base.Clone()
	t.TLSClientConfig = &tls.Config{
		MinVersion:         tls.VersionTLS12,
		RootCAs:            pool,
		InsecureSkipVerify: skipVerify, //#nosec G402 -- only with --tls-skip-verify
	}
	return &guardTransport{base: t}, nil
}
