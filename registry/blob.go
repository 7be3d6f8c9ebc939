package registry

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
)

// OpenBlob streams a blob of repo. The caller verifies what it reads (the cache does); the
// stream fails if no byte arrives for the stall timeout, so a registry that stops sending
// mid-body cannot hang a reader.
func (c *Client) OpenBlob(ctx context.Context, repo, dgst string, size int64) (io.ReadCloser, error) {
	r, err := c.ref(repo, "")
	if err != nil {
		return nil, err
	}
	if err := CheckDigest(dgst); err != nil {
		return nil, err
	}
	if size > c.maxBlobSize || size < 0 {
		return nil, fmt.Errorf("fetch %s@%s: %w: the manifest says %d bytes, the limit is %d (--max-blob-size)",
			r.CommonName(), dgst, ErrTooLarge, size, c.maxBlobSize)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	watch := &stallReader{cancel: cancel, timeout: c.stallTimeout}
	watch.timer = time.AfterFunc(c.stallTimeout, watch.fire)
	br, err := c.rc.BlobGet(ctx, r, descriptor.Descriptor{Digest: digest.Digest(dgst), Size: size})
	if err != nil {
		watch.stop()
		return nil, fmt.Errorf("fetch %s@%s: %w", r.CommonName(), dgst, classify(stalled(ctx, err)))
	}
	watch.body = br
	watch.name = r.CommonName() + "@" + dgst
	watch.ctx = ctx
	return watch, nil
}

// stallReader cancels a download when no byte has arrived for timeout.
type stallReader struct {
	body    io.ReadCloser
	name    string
	ctx     context.Context
	cancel  context.CancelCauseFunc
	timeout time.Duration
	timer   *time.Timer
	once    sync.Once
}

var errStalled = fmt.Errorf("%w: the registry stopped sending data", ErrUnavailable)

func (s *stallReader) fire() { s.cancel(errStalled) }

func (s *stallReader) stop() {
	s.once.Do(func() {
		s.timer.Stop()
		s.cancel(nil)
	})
}

func (s *stallReader) Read(p []byte) (int, error) {
	n, err := s.body.Read(p)
	if n > 0 {
		s.timer.Reset(s.timeout)
	}
	if err != nil && err != io.EOF {
		err = fmt.Errorf("fetch %s: %w", s.name, classify(stalled(s.ctx, err)))
	}
	return n, err
}

func (s *stallReader) Close() error {
	err := s.body.Close()
	s.stop()
	return err
}

// stalled reports the watchdog's cause instead of a bare "context canceled".
func stalled(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause == errStalled {
		return fmt.Errorf("%w (no data for the stall timeout): %v", errStalled, err)
	}
	return err
}
