package main

import (
	"fmt"
	"strings"

	"github.com/stuffed-dev/stuffed/registry"
)

// reference is a parsed REF: [HOST[:PORT]/]REPO[:TAG|@DIGEST]. Without a host (the first
// path component has no '.' or ':' and is not "localhost") it names the local store.
type reference struct {
	host string // empty: the local store
	repo string
	tag  string // a tag or a sha256 digest
}

func parseReference(s string) (reference, error) {
	var r reference
	rest := s
	if first, after, ok := strings.Cut(s, "/"); ok &&
		(strings.ContainsAny(first, ".:") || first == "localhost") {
		r.host, rest = first, after
	}
	switch {
	case strings.Contains(rest, "@"):
		r.repo, r.tag, _ = strings.Cut(rest, "@")
		if err := registry.CheckDigest(r.tag); err != nil {
			return r, fmt.Errorf("reference %q: %w", s, err)
		}
	default:
		r.repo, r.tag = rest, "latest"
		if i := strings.LastIndex(rest, ":"); i >= 0 {
			r.repo, r.tag = rest[:i], rest[i+1:]
			if err := registry.CheckTag(r.tag); err != nil {
				return r, fmt.Errorf("reference %q: %w", s, err)
			}
		}
	}
	if err := registry.CheckRepo(r.repo); err != nil {
		return r, fmt.Errorf("reference %q (want [HOST[:PORT]/]REPO[:TAG]): %w", s, err)
	}
	return r, nil
}

func (r reference) String() string {
	sep := ":"
	if strings.HasPrefix(r.tag, "sha256:") {
		sep = "@"
	}
	if r.host == "" {
		return r.repo + sep + r.tag
	}
	return r.host + "/" + r.repo + sep + r.tag
}
