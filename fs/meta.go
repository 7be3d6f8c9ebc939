package fs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stuffed-dev/stuffed/registry"
)

// meta remembers listings and tag resolutions for a short TTL, so that `ls -l` of a folder
// costs one request per listing, not one per entry. Digest resolutions never change and are
// kept for the life of the mount. Entries are kept past their TTL, to be served while the
// registry cannot answer.
type meta struct {
	reg      *registry.Client
	extra    []string // --repo names
	ttl      time.Duration
	log      *slog.Logger
	mu       sync.Mutex
	down     time.Time                  // the registry failed to answer: until then, do not ask it
	repos    map[string]timed[repoList] // one entry, "_catalog"
	tags     map[string]timed[[]string]
	resolved map[string]timed[registry.Artifact]
}

type timed[T any] struct {
	val T
	err error // a definite "not found", remembered like an answer
	at  time.Time
}

// repoList is the root's view of the registry's repositories.
type repoList struct {
	names   []string
	catalog bool // the registry lists its repositories; false: only --repo names are known
}

func newMeta(reg *registry.Client, extra []string, ttl time.Duration, log *slog.Logger) *meta {
	return &meta{
		reg:      reg,
		extra:    extra,
		ttl:      ttl,
		log:      log,
		repos:    map[string]timed[repoList]{},
		tags:     map[string]timed[[]string]{},
		resolved: map[string]timed[registry.Artifact]{},
	}
}

// cached answers from a fresh entry of table, else asks the registry with fetch. When the
// registry cannot answer (down, hanging, overloaded) a stale entry is served instead, with a
// warning, so files already known and cached keep reading; definite answers (not found,
// unauthorized) are never papered over.
func cached[T any](ctx context.Context, m *meta, table map[string]timed[T], key string, pinned bool, fetch func(context.Context) (T, error)) (T, error) {
	m.mu.Lock()
	old, ok := table[key]
	down := m.down
	m.mu.Unlock()
	if ok && (pinned || time.Since(old.at) < m.ttl) {
		return old.val, old.err
	}
	if wait := time.Until(down); wait > 0 {
		// The registry did not answer a moment ago: answer at once rather than make every
		// lookup wait for a deadline.
		if ok {
			return old.val, old.err
		}
		var zero T
		return zero, fmt.Errorf("%w: it did not answer a moment ago; asking again in %s", registry.ErrUnavailable, wait.Round(time.Second))
	}
	val, err := fetch(ctx)
	if err != nil && transient(err) {
		m.mu.Lock()
		m.down = time.Now().Add(m.cooldown())
		m.mu.Unlock()
		if ok {
			m.log.Warn("registry unavailable; serving what it said before", "what", key,
				"age", time.Since(old.at).Round(time.Second), "err", err)
			return old.val, old.err
		}
		return val, err
	}
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		return val, err
	}
	m.mu.Lock()
	table[key] = timed[T]{val, err, time.Now()}
	m.down = time.Time{}
	m.mu.Unlock()
	return val, err
}

// cooldown is how long a registry that did not answer is left alone: a metadata TTL, at
// least one second and at most ten.
func (m *meta) cooldown() time.Duration {
	return min(max(m.ttl, time.Second), 10*time.Second)
}

// transient says whether an error may go away by itself: not a definite answer of the
// registry, and not the caller giving up.
func transient(err error) bool {
	for _, definite := range []error{registry.ErrNotFound, registry.ErrUnauthorized, registry.ErrInvalidName,
		registry.ErrNoWasmLayer, registry.ErrTooLarge, context.Canceled} {
		if errors.Is(err, definite) {
			return false
		}
	}
	return true
}

// Repos lists repositories: _catalog (all pages) plus --repo names. A registry without
// _catalog is not an error: the --repo names are the list.
func (m *meta) Repos(ctx context.Context) (repoList, error) {
	return cached(ctx, m, m.repos, "_catalog", false, func(ctx context.Context) (repoList, error) {
		names, err := m.reg.Repos(ctx)
		catalog := true
		if errors.Is(err, registry.ErrNoCatalog) {
			catalog, err = false, nil
		}
		if err != nil {
			return repoList{}, err
		}
		names = append(slices.Clone(names), m.extra...)
		slices.Sort(names)
		return repoList{names: slices.Compact(names), catalog: catalog}, nil
	})
}

// Tags lists a repository's tags.
func (m *meta) Tags(ctx context.Context, repo string) ([]string, error) {
	return cached(ctx, m, m.tags, repo, false, func(ctx context.Context) ([]string, error) {
		return m.reg.Tags(ctx, repo)
	})
}

// Resolve finds the Wasm layer of repo at a tag or digest; a digest's answer never changes.
func (m *meta) Resolve(ctx context.Context, repo, reference string) (registry.Artifact, error) {
	pinned := strings.HasPrefix(reference, "sha256:")
	return cached(ctx, m, m.resolved, repo+"\x00"+reference, pinned, func(ctx context.Context) (registry.Artifact, error) {
		return m.reg.Resolve(ctx, repo, reference)
	})
}

// childrenOf lists the next path components below prefix ("" for the root) among names, and
// whether prefix itself is one of them.
func childrenOf(names []string, prefix string) (children []string, isRepo bool) {
	for _, n := range names {
		rest := n
		if prefix != "" {
			if n == prefix {
				isRepo = true
				continue
			}
			var ok bool
			if rest, ok = strings.CutPrefix(n, prefix+"/"); !ok {
				continue
			}
		}
		first, _, _ := strings.Cut(rest, "/")
		children = append(children, first)
	}
	slices.Sort(children)
	return slices.Compact(children), isRepo
}

// Forget drops what is known of repo, after a push changed it.
func (m *meta) Forget(repo string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.repos)
	delete(m.tags, repo)
	for key := range m.resolved {
		if r, ref, _ := strings.Cut(key, "\x00"); r == repo && !strings.HasPrefix(ref, "sha256:") {
			delete(m.resolved, key)
		}
	}
}
