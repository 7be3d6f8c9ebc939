package registry

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/regclient/regclient/scheme"
	"github.com/regclient/regclient/types/errs"
	"github.com/regclient/regclient/types/repo"
)

// maxPages stops a registry that pages forever; the call's deadline bounds it as well.
const maxPages = 10000

// Repos lists every repository: all pages of _catalog, or the local store's layouts.
// It returns ErrNoCatalog when the registry does not offer _catalog (Docker Hub, GHCR, ECR).
func (c *Client) Repos(ctx context.Context) ([]string, error) {
	if c.Local() {
		return c.localRepos()
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	var all []string
	var opts []scheme.RepoOpts // the first page has the registry's default size
	for range maxPages {
		rl, err := c.rc.RepoList(ctx, c.host, opts...)
		if err != nil {
			if errors.Is(classify(err), ErrUnauthorized) || errors.Is(err, errs.ErrNotFound) ||
				errors.Is(err, errs.ErrNotImplemented) {
				return nil, fmt.Errorf("list repositories of %s: %w: %w", c.host, ErrNoCatalog, err)
			}
			return nil, fmt.Errorf("list repositories of %s: %w", c.host, classify(err))
		}
		page, err := rl.GetRepos()
		if err != nil {
			return nil, fmt.Errorf("list repositories of %s: %w: %w", c.host, ErrInvalidFormat, err)
		}
		all = append(all, page...)
		next, ok := nextPage(rl)
		if !ok || len(page) == 0 {
			break
		}
		opts = next
	}
	return validNames(all, CheckRepo), nil
}

// localRepos walks the local store: every folder holding an oci-layout file is a repository.
func (c *Client) localRepos() ([]string, error) {
	var repos []string
	err := filepath.WalkDir(c.localRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path == c.localRoot {
				return filepath.SkipAll
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if d.Name() == "blobs" && path != c.localRoot {
			if _, err := os.Stat(filepath.Join(filepath.Dir(path), "oci-layout")); err == nil {
				return filepath.SkipDir
			}
		}
		if _, err := os.Stat(filepath.Join(path, "oci-layout")); err == nil && path != c.localRoot {
			rel, _ := filepath.Rel(c.localRoot, path)
			repos = append(repos, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list the local store %s: %w", c.localRoot, err)
	}
	return validNames(repos, checkLocalRepo), nil
}

// Tags lists every tag of repo (regclient follows the Link header of each page).
func (c *Client) Tags(ctx context.Context, repo string) ([]string, error) {
	r, err := c.ref(repo, "")
	if err != nil {
		return nil, err
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	tl, err := c.rc.TagList(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("list tags of %s: %w", r.CommonName(), classify(err))
	}
	tags, err := tl.GetTags()
	if err != nil {
		return nil, fmt.Errorf("list tags of %s: %w: %w", r.CommonName(), ErrInvalidFormat, err)
	}
	return validNames(tags, CheckTag), nil
}

// validNames keeps the names that follow the grammar, sorted and unique: a name from a
// registry is never trusted to be a safe path component.
func validNames(names []string, check func(string) error) []string {
	out := names[:0:0]
	for _, n := range names {
		if check(n) == nil {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// nextPage reads the Link header of a _catalog page (distribution-spec pagination):
// `</v2/_catalog?last=x&n=2>; rel="next"` becomes the options for the next request.
func nextPage(rl *repo.RepoList) ([]scheme.RepoOpts, bool) {
	h, err := rl.RawHeaders()
	if err != nil {
		return nil, false
	}
	for _, v := range h.Values("Link") {
		if !strings.Contains(v, `rel="next"`) {
			continue
		}
		start, end := strings.Index(v, "<"), strings.Index(v, ">")
		if start < 0 || end < start {
			return nil, false
		}
		u, err := url.Parse(v[start+1 : end])
		if err != nil {
			return nil, false
		}
		q := u.Query()
		if q.Get("last") == "" {
			return nil, false
		}
		opts := []scheme.RepoOpts{scheme.WithRepoLast(q.Get("last"))}
		if n, err := strconv.Atoi(q.Get("n")); err == nil && n > 0 {
			opts = append(opts, scheme.WithRepoLimit(n))
		}
		return opts, true
	}
	return nil, false
}
