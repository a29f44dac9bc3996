package adaptersource

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graft-ai/graft/internal/testmodels"
)

// The commit a fake Hub repo's "main" resolves to.
const fakeCommit = "0123456789abcdef0123456789abcdef01234567"

// fakeHub is an httptest server laid out like the Hub: resolve URLs, LFS files
// redirected to a CDN path with X-Linked-* headers, regular files served with
// their git blob id as ETag, a gated repo, a renamed repo.
type fakeHub struct {
	*httptest.Server
	cdn   *httptest.Server // another host:port, as the real CDN is another host
	token string
	repos map[string]map[string][]byte // repo -> file -> content
	// tamper, per repo, changes what the server says or sends.
	tamper map[string]string
	mu     sync.Mutex
	hits   map[string]int // "METHOD path" -> count
	// beforeCDN, if set, runs before each CDN download.
	beforeCDN func()
}

// testDeadline turns a hang into a failure; it is not a timing assertion.
const testDeadline = time.Minute

func newFakeHub(t *testing.T) *fakeHub {
	t.Helper()
	h := &fakeHub{token: "hf_test_token", repos: map[string]map[string][]byte{},
		tamper: map[string]string{}, hits: map[string]int{}}
	h.Server = httptest.NewServer(http.HandlerFunc(h.serve))
	h.cdn = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.Close)
	t.Cleanup(h.cdn.Close)
	return h
}

// addAdapter serves a stories260K adapter directory as repo.
func (h *fakeHub) addAdapter(t *testing.T, repo, adapter string) {
	t.Helper()
	dir := testmodels.Path(t, "stories260K", "adapters", adapter)
	files := map[string][]byte{}
	for _, name := range AdapterFiles {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b
	}
	h.repos[repo] = files
}

func (h *fakeHub) count(method, path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits[method+" "+path]
}

func (h *fakeHub) serve(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.hits[r.Method+" "+r.URL.Path]++
	h.mu.Unlock()
	if rest, ok := strings.CutPrefix(r.URL.Path, "/cdn/"); ok {
		h.serveCDN(w, r, rest)
		return
	}
	repo, after, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/resolve/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	if renamed, ok := strings.CutPrefix(repo, "old-name/"); ok {
		// A renamed repo answers with a relative redirect, as the Hub does.
		http.Redirect(w, r, "/org/"+renamed+"/resolve/"+after, http.StatusTemporaryRedirect)
		return
	}
	h.serveResolve(w, r, repo, after)
}

func (h *fakeHub) serveResolve(w http.ResponseWriter, r *http.Request, repo, after string) {
	rev, name, _ := strings.Cut(after, "/")
	files, ok := h.repos[repo]
	if strings.HasPrefix(repo, "gated/") && r.Header.Get("Authorization") != "Bearer "+h.token {
		w.Header().Set("X-Error-Code", "GatedRepo")
		w.Header().Set("X-Error-Message", "Access to model "+repo+" is restricted.")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if !ok {
		w.Header().Set("X-Error-Code", "RepoNotFound")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if rev != "main" && rev != fakeCommit {
		w.Header().Set("X-Error-Code", "RevisionNotFound")
		w.WriteHeader(http.StatusNotFound)
		return
	}
	body, ok := files[name]
	if !ok {
		w.Header().Set("X-Error-Code", "EntryNotFound")
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.Header().Set("X-Repo-Commit", fakeCommit)
	if name == WeightsFile { // stored in LFS: redirect to the CDN
		sum := sha256.Sum256(body)
		size, etag := len(body), hex.EncodeToString(sum[:])
		switch h.tamper[repo] {
		case "size", "size-chunked":
			size++
		case "sha":
			etag = strings.Repeat("ab", 32)
		}
		w.Header().Set("X-Linked-Size", strconv.Itoa(size))
		w.Header().Set("X-Linked-Etag", `"`+etag+`"`)
		w.Header().Set("ETag", `"pointer-etag"`)
		http.Redirect(w, r, h.cdn.URL+"/cdn/"+repo+"/"+name+"?X-Amz-Signature=x", http.StatusFound)
		return
	}
	blob := sha1.Sum(append([]byte(fmt.Sprintf("blob %d\x00", len(body))), body...))
	etag := hex.EncodeToString(blob[:])
	if h.tamper[repo] == "git-blob" {
		etag = strings.Repeat("cd", 20)
	}
	w.Header().Set("ETag", `"`+etag+`"`)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodGet {
		w.Write(body)
	}
}

func (h *fakeHub) serveCDN(w http.ResponseWriter, r *http.Request, path string) {
	i := strings.LastIndex(path, "/")
	repo, name := path[:i], path[i+1:]
	body := h.repos[repo][name]
	if h.beforeCDN != nil && r.Method == http.MethodGet {
		h.beforeCDN()
	}
	if r.Header.Get("Authorization") != "" {
		// The CDN is another host in reality; the token must not leak to it.
		http.Error(w, "unexpected Authorization at the CDN", http.StatusBadRequest)
		return
	}
	switch h.tamper[repo] {
	case "size-chunked":
		// No Content-Length: only the byte count after the download can tell.
		w.Write(body[:1])
		w.(http.Flusher).Flush()
		w.Write(body[1:])
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	switch h.tamper[repo] {
	case "truncate":
		w.Write(body[:len(body)/2]) // then the connection closes short
		return
	case "flip":
		body = append([]byte(nil), body...)
		body[len(body)-1] ^= 1
	}
	w.Write(body)
}
