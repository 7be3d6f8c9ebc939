package test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stuffed-dev/stuffed/internal/testreg"
)

// TestSecretsNeverReachOutput: against a registry with token authentication that sends blobs
// through signed URLs, with the most verbose logging, neither the password, the bearer token,
// an Authorization header nor a signed URL's query appears in any output or error.
func TestSecretsNeverReachOutput(t *testing.T) {
	const (
		user       = "robot"
		password   = "pw-Zq8xK2mN7vR4"
		token      = "tok-Hy6Lp3Wc9Ts1Bg5"
		signature  = "sig-Qe4Vn8Jd2Fm6Rk0"
		credential = "cred-Xa7Ub1Oi5Ye9Gt3"
	)
	upstream := testreg.Start(t, 0)
	target, _ := url.Parse(upstream.Server.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	var failSigned atomic.Int32 // signed-URL requests still to answer 500
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/token":
			if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
				http.Error(w, "bad credentials", http.StatusUnauthorized)
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"token": token, "access_token": token, "expires_in": 300})
		case strings.HasPrefix(r.URL.Path, "/signed/"):
			if r.URL.Query().Get("X-Amz-Signature") != signature {
				http.Error(w, "bad signature", http.StatusForbidden)
				return
			}
			if failSigned.Add(-1) >= 0 {
				http.Error(w, "storage hiccup", http.StatusInternalServerError)
				return
			}
			r.URL.Path = strings.TrimPrefix(r.URL.Path, "/signed")
			r.URL.RawQuery = ""
			rp.ServeHTTP(w, r)
		case r.Header.Get("Authorization") != "Bearer "+token:
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s/token",service="stuffed-test"`, srv.URL))
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
		case testreg.Route(r) == "GET blob":
			q := url.Values{"X-Amz-Signature": {signature}, "X-Amz-Credential": {credential}}
			http.Redirect(w, r, srv.URL+"/signed"+r.URL.Path+"?"+q.Encode(), http.StatusTemporaryRedirect)
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")

	dockerConfig := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	os.WriteFile(filepath.Join(dockerConfig, "config.json"),
		[]byte(fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, auth)), 0o600)
	env := []string{"DOCKER_CONFIG=" + dockerConfig, "HOME=" + t.TempDir(), "XDG_CACHE_HOME=" + t.TempDir()}
	comp := fixture(t, componentFile)
	var output strings.Builder
	record := func(r cmdResult) cmdResult {
		output.WriteString(r.stdout + r.stderr)
		return r
	}

	ref := host + "/wasm/private:v1"
	if r := record(run(t, "", env, stuffedBin, "--log-level", "trace", "push", "--reference", ref, "--root-path", comp, "-i")); r.err != nil {
		t.Fatalf("push with a token: %v\n%s", r.err, r.stderr)
	}
	failSigned.Store(1) // the first signed-URL download fails, and is logged
	if r := record(run(t, t.TempDir(), env, stuffedBin, "--log-level", "trace", "pull", "--reference", ref, "-i")); r.err != nil {
		t.Fatalf("pull through a signed URL: %v\n%s", r.err, r.stderr)
	}
	failSigned.Store(1000) // every signed-URL download fails: the error is printed
	if r := record(run(t, t.TempDir(), env, stuffedBin, "--log-level", "trace", "pull", "--reference", ref, "-i")); r.err == nil {
		t.Fatal("pull succeeded although the storage fails")
	}
	failSigned.Store(0)

	m := mountBinary(t, env, "--log-level", "trace", "--debug-fuse", "--registry", host, "-i")
	must(t, "", nil, "cmp", filepath.Join(m.dir, "wasm/private/v1/component.wasm"), comp)
	m.stop(t)
	output.WriteString(m.logs.String())

	all := output.String()
	if !strings.Contains(all, "level=DEBUG") || !strings.Contains(all, "/signed/v2/") {
		t.Fatal("the signed URL was never logged: the check below would prove nothing")
	}
	for _, secret := range []string{password, auth, token, signature, credential} {
		if i := strings.Index(all, secret); i >= 0 {
			t.Errorf("secret %q in the output: ...%s...", secret, all[max(0, i-200):min(len(all), i+100)])
		}
	}
}
