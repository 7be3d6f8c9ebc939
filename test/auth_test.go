package test

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// TestCredentialsFromDockerConfig: a registry that requires a login is read and written with
// the credentials of Docker's config; without them the mount answers EACCES; the password
// reaches no output, even with debug logging.
func TestCredentialsFromDockerConfig(t *testing.T) {
	const user, password = "builder", "s3cret-Pa55word-do-not-log"
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600)
	host := startRegistryWith(t, fmt.Sprintf("auth:\n  htpasswd:\n    realm: stuffed-test\n    path: %s\n", htpasswd))

	dockerConfig := filepath.Join(dir, "docker")
	os.MkdirAll(dockerConfig, 0o700)
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	os.WriteFile(filepath.Join(dockerConfig, "config.json"),
		[]byte(fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, auth)), 0o600)
	withCreds := []string{"DOCKER_CONFIG=" + dockerConfig, "HOME=" + dir}
	noCreds := []string{"DOCKER_CONFIG=" + t.TempDir(), "HOME=" + t.TempDir()}

	comp := fixture(t, componentFile)
	ref := host + "/wasm/private:v1"
	r := run(t, "", noCreds, stuffedBin, "push", "--reference", ref, "--root-path", comp, "-i")
	if r.err == nil || !strings.Contains(r.stderr, "unauthorized") {
		t.Fatalf("push without credentials: %v %q", r.err, r.stderr)
	}
	r = run(t, "", withCreds, stuffedBin, "--log-level", "debug", "push", "--reference", ref, "--root-path", comp, "-i")
	if r.err != nil {
		t.Fatalf("push with credentials: %v\n%s", r.err, r.stderr)
	}
	logs := r.stdout + r.stderr

	m := mountBinary(t, append(withCreds, "XDG_CACHE_HOME="+t.TempDir()),
		"--log-level", "debug", "--registry", host, "-i", "--repo", "wasm/private")
	must(t, "", nil, "cmp", filepath.Join(m.dir, "wasm/private/v1/component.wasm"), comp)

	denied := mountBinary(t, append(noCreds, "XDG_CACHE_HOME="+t.TempDir()),
		"--log-level", "debug", "--registry", host, "-i")
	_, err = os.Stat(filepath.Join(denied.dir, "wasm/private/v1/component.wasm"))
	if !os.IsPermission(err) {
		t.Errorf("without credentials: %v, want EACCES", err)
	}
	m.stop(t)
	denied.stop(t)
	logs += m.logs.String() + denied.logs.String()
	for _, secret := range []string{password, auth} {
		if strings.Contains(logs, secret) {
			t.Errorf("a secret reached the logs:\n%s", logs)
		}
	}
}
