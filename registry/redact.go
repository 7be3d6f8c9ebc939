package registry

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
)

// Secrets never reach a log or an error message: credentials, tokens, Authorization headers
// and signed URLs (their query strings) are replaced before anything is written.
var redactions = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{4,}`), "$1 [redacted]"},
	{regexp.MustCompile(`(https?://[^\s"'?<>]+)\?[^\s"'<>]*`), "$1?[redacted]"},
	{regexp.MustCompile(`(?i)("?(?:authorization|proxy-authorization|cookie|set-cookie|x-amz-security-token|x-registry-auth)"?\s*[:=]\s*\[?)"?[^\]\n"]+"?`), "$1[redacted]"},
	{regexp.MustCompile(`(?i)("?(?:password|passwd|pass|secret|token|access_token|refresh_token|identitytoken|registrytoken|auth|signature|credential)"?\s*[:=]\s*)("[^"]*"|[^\s",}&]+)`), "$1[redacted]"},
}

// Redact removes secrets from a message.
func Redact(s string) string {
	for _, r := range redactions {
		s = r.re.ReplaceAllString(s, r.with)
	}
	return s
}

// RedactingHandler wraps a slog handler so that no message or attribute carries a secret,
// whoever logs it (this package, regclient, the mount).
func RedactingHandler(h slog.Handler) slog.Handler { return redactingHandler{h} }

type redactingHandler struct{ inner slog.Handler }

func (h redactingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h redactingHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, Redact(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return h.inner.Handle(ctx, out)
}

func (h redactingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = redactAttr(a)
	}
	return redactingHandler{h.inner.WithAttrs(clean)}
}

func (h redactingHandler) WithGroup(name string) slog.Handler {
	return redactingHandler{h.inner.WithGroup(name)}
}

func redactAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		group := v.Group()
		clean := make([]any, len(group))
		for i, g := range group {
			clean[i] = redactAttr(g)
		}
		return slog.Group(a.Key, clean...)
	case slog.KindString:
		return slog.String(a.Key, Redact(v.String()))
	case slog.KindAny:
		return slog.String(a.Key, Redact(fmt.Sprint(v.Any())))
	}
	return slog.Attr{Key: a.Key, Value: v}
}
