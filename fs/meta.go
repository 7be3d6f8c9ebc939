package fs

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stuffed-dev/stuffed/registry"
)

// meta remembers listings and tag resolutions for a short TTL, so that `ls -l` of a folder
// costs one request per listing, not one per entry. Digest resolutions never change and are
// kept for the life of the mount.
type meta struct {
	reg      *registry.Client
	extra    []string // --repo names
	ttl      time.Duration
	mu       sync.Mutex
	repos    timed[repoList]
	tags     map[string]timed[[]string]
	resolved map[string]timed[registry.Artifact]
}

type timed[T any] struct {
	val T
	at  time.Time
}

// repoList is the root's view of the registry's repositories.
type repoList struct {
	names   []string
	catalog bool // the registry lists its repositories; false: only --repo names are known
}

func newMeta(reg *registry.Client, extra []string, ttl time.Duration) *meta {
	return &meta{
		reg:      reg,
		extra:    extra,
		ttl:      ttl,
		tags:     map[string]timed[[]string]{},
		resolved: map[string]timed[registry.Artifact]{},
	}
}

func (m *meta) fresh(at time.Time) bool { return !at.IsZero() && time.Since(at) < m.ttl }

// Repos lists repositories: _catalog (all pages) plus --repo names. A registry without
// _catalog is not an error: the --repo names are the list.
func (m *meta) Repos(ctx context.Context) (repoList, error) {
	m.mu.Lock()
	if m.fresh(m.repos.at) {
		defer m.mu.Unlock()
		return m.repos.val, nil
	}
	m.mu.Unlock()
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
	list := repoList{names: slices.Compact(names), catalog: catalog}
	m.mu.Lock()
	m.repos = timed[repoList]{list, time.Now()}
	m.mu.Unlock()
	return list, nil
}

// Tags lists a repository's tags.
func (m *meta) Tags(ctx context.Context, repo string) ([]string, error) {
	m.mu.Lock()
	if t, ok := m.tags[repo]; ok && m.fresh(t.at) {
		m.mu.Unlock()
		return t.val, nil
	}
	m.mu.Unlock()
	tags, err := m.reg.Tags(ctx, repo)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.tags[repo] = timed[[]string]{tags, time.Now()}
	m.mu.Unlock()
	return tags, nil
}

// Resolve finds the Wasm layer of repo at a tag or digest.
func (m *meta) Resolve(ctx context.Context, repo, reference string) (registry.Artifact, error) {
	key := repo + "\x00" + reference
	pinned := strings.HasPrefix(reference, "sha256:")
	m.mu.Lock()
	if a, ok := m.resolved[key]; ok && (pinned || m.fresh(a.at)) {
		m.mu.Unlock()
		return a.val, nil
	}
	m.mu.Unlock()
	a, err := m.reg.Resolve(ctx, repo, reference)
	if err != nil {
		return registry.Artifact{}, err
	}
	m.mu.Lock()
	m.resolved[key] = timed[registry.Artifact]{a, time.Now()}
	m.mu.Unlock()
	return a, nil
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
	m.repos = timed[repoList]{}
	delete(m.tags, repo)
	for key := range m.resolved {
		if r, ref, _ := strings.Cut(key, "\x00"); r == repo && !strings.HasPrefix(ref, "sha256:") {
			delete(m.resolved, key)
		}
	}
}
