package registry

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/regclient/regclient/types/errs"
)

// Sentinel errors, checked with errors.Is. Every error this package returns that has one of
// these causes wraps it, so callers (the fs package's errno mapping) never see regclient.
var (
	ErrNotFound      = errors.New("not found")
	ErrUnauthorized  = errors.New("unauthorized")
	ErrInvalidName   = errors.New("invalid name")
	ErrNotWasm       = errors.New("not a WebAssembly binary")
	ErrNoWasmLayer   = errors.New("no WebAssembly layer")
	ErrTooLarge      = errors.New("too large")
	ErrNoCatalog     = errors.New("registry does not list its repositories")
	ErrUnavailable   = errors.New("registry unavailable")
	ErrInvalidFormat = errors.New("invalid format")
)

// classify wraps a regclient error with this package's sentinel for its cause.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: no answer before the deadline: %w", ErrUnavailable, err)
	case errors.Is(err, errs.ErrNotFound), errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, errs.ErrHTTPUnauthorized), errors.Is(err, errs.ErrNoLogin), errors.Is(err, errs.ErrEmptyChallenge):
		return fmt.Errorf("%w (log in with `docker login` or a credential helper): %w", ErrUnauthorized, err)
	case errors.Is(err, errs.ErrSizeLimitExceeded):
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	return err
}
