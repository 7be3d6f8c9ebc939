package registry

import (
	"fmt"
	"regexp"
	"strings"
)

// The OCI distribution-spec grammar for names, tags and digests.
var (
	repoComponentRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$`)
	tagRE           = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
	digestRE        = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
)

// maxRepoLen is the distribution-spec's bound on a repository name (with its host).
const maxRepoLen = 255

// localReserved are names an OCI image layout keeps for itself; the local store keeps one
// layout per repository folder, so a nested repository may not use them.
var localReserved = map[string]bool{"blobs": true, "index.json": true, "oci-layout": true}

// CheckRepoComponent says which rule a single path component of a repository name breaks.
func CheckRepoComponent(name string) error {
	if !repoComponentRE.MatchString(name) {
		return fmt.Errorf("%w: repository path component %q must be lowercase letters and digits, "+
			"separated by single '.', '_', '__' or runs of '-'", ErrInvalidName, name)
	}
	return nil
}

// CheckRepo says which rule a repository name breaks.
func CheckRepo(repo string) error {
	if repo == "" {
		return fmt.Errorf("%w: empty repository name", ErrInvalidName)
	}
	if len(repo) > maxRepoLen {
		return fmt.Errorf("%w: repository name is %d bytes, the limit is %d", ErrInvalidName, len(repo), maxRepoLen)
	}
	for _, c := range strings.Split(repo, "/") {
		if err := CheckRepoComponent(c); err != nil {
			return err
		}
	}
	return nil
}

// CheckTag says which rule a tag breaks.
func CheckTag(tag string) error {
	if !tagRE.MatchString(tag) {
		return fmt.Errorf("%w: tag %q must match [A-Za-z0-9_][A-Za-z0-9._-]{0,127}", ErrInvalidName, tag)
	}
	return nil
}

// CheckDigest says whether d is a sha256 digest, the only algorithm this tool verifies.
func CheckDigest(d string) error {
	if !digestRE.MatchString(d) {
		return fmt.Errorf("%w: digest %q is not sha256:<64 lowercase hex>", ErrInvalidName, d)
	}
	return nil
}

// checkLocalRepo adds the local store's rule to CheckRepo.
func checkLocalRepo(repo string) error {
	if err := CheckRepo(repo); err != nil {
		return err
	}
	parts := strings.Split(repo, "/")
	for _, c := range parts[1:] {
		if localReserved[c] {
			return fmt.Errorf("%w: %q cannot be a nested repository name in the local store "+
				"(an OCI layout keeps it for itself); choose another name", ErrInvalidName, c)
		}
	}
	return nil
}
