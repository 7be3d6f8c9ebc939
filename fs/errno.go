package fs

import (
	"context"
	"errors"
	"log/slog"
	"syscall"

	"github.com/stuffed-dev/stuffed/cache"
	"github.com/stuffed-dev/stuffed/registry"
)

// toErrno is the one place an error becomes an errno (go-fuse's own fs.ToErrno turns
// wrapped errors into ENOSYS). Anything unexpected is EIO with a log line saying what failed.
func toErrno(log *slog.Logger, op string, err error) syscall.Errno {
	var errno syscall.Errno
	switch {
	case err == nil:
		return 0
	case errors.Is(err, registry.ErrNotFound), errors.Is(err, registry.ErrNoWasmLayer):
		errno = syscall.ENOENT
	case errors.Is(err, registry.ErrUnauthorized):
		errno = syscall.EACCES
	case errors.Is(err, registry.ErrInvalidName), errors.Is(err, registry.ErrNotWasm):
		errno = syscall.EINVAL
	case errors.Is(err, registry.ErrTooLarge), errors.Is(err, cache.ErrTooLarge):
		errno = syscall.EFBIG
	case errors.Is(err, registry.ErrUnavailable):
		errno = syscall.EIO // before Canceled: a stalled download is cancelled internally
	case errors.Is(err, context.Canceled):
		return syscall.EINTR // the caller was interrupted; nothing failed
	case errors.As(err, &errno): // from the OS, e.g. ENOSPC writing the cache
	default: // corrupt blobs (cache.ErrDigestMismatch), dead registries, everything else
		errno = syscall.EIO
	}
	if errno != syscall.ENOENT {
		log.Warn(op+" failed", "errno", errno.Error(), "err", err)
	}
	return errno
}
