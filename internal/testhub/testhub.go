// Package testhub is a test server with the Hugging Face Hub's URL layout, for
// the tests of everything that fetches from the Hub (adapters, base models, the
// graft binary): a real HTTP server on loopback, no mock of the client.
//
// It serves, per repository:
//   - GET/HEAD {URL}/{repo}/resolve/{rev}/{file}: LFS files (weights: .safetensors,
//     .gguf, .bin) answer 302 to a CDN on another host:port with X-Linked-Size and
//     X-Linked-Etag (sha256); regular files are served with their git blob id as
//     ETag. Every answer names the commit in X-Repo-Commit.
//   - GET {URL}/api/models/{repo}/revision/{rev}: {"id", "sha", "siblings":
//     [{"rfilename"}]}, as the Hub API lists a repository.
//
// Repositories under "gated/" need the token; "old-name/X" is a renamed repo
// that answers with a relative redirect to "org/X"; an unknown repository
// answers 401 RepoNotFound, as the Hub does for private repos without a token.
package testhub

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Commit is what a repository's "main" resolves to until SetCommit moves it.
const Commit = "0123456789abcdef0123456789abcdef01234567"

// Token is the token gated repositories accept.
const Token = "hf_test_token"

// Tamper modes: how the server lies about or mangles a repository's LFS files.
const (
	TamperSize        = "size"         // declares one byte more than it sends
	TamperSizeChunked = "size-chunked" // the same, without a Content-Length at the CDN
	TamperSHA         = "sha"          // declares a wrong sha256
	TamperGitBlob     = "git-blob"     // declares a wrong git blob id for regular files
	TamperTruncate    = "truncate"     // the CDN closes the connection half-way
	TamperFlip        = "flip"         // the CDN flips a bit of the body
	TamperStall       = "stall"        // the CDN sends half, then nothing until the client leaves
)

// Server is the Hub and its CDN.
type Server struct {
	*httptest.Server
	CDN *httptest.Server // another host:port, as the real CDN is another host
	// BeforeCDN, if set, runs before each CDN download (set it before use).
	BeforeCDN func()

	mu     sync.Mutex
	repos  map[string]*repo
	hits   map[string]int // "METHOD path" -> count
	tamper map[string]string
}

type repo struct {
	commit string
	files  map[string][]byte
}

// New starts a Hub and its CDN, closed when t ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{repos: map[string]*repo{}, hits: map[string]int{}, tamper: map[string]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	s.CDN = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	t.Cleanup(s.CDN.Close)
	return s
}

// AddRepo serves files (name -> content; names may hold "/") as repo.
func (s *Server) AddRepo(name string, files map[string][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repos[name] = &repo{commit: Commit, files: files}
}

// AddDir serves the named files of dir (all its regular files, recursively,
// when names is empty) as repo, read now so the test data is never copied to disk.
func (s *Server) AddDir(t testing.TB, name, dir string, names ...string) {
	t.Helper()
	if len(names) == 0 {
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				rel, _ := filepath.Rel(dir, p)
				names = append(names, filepath.ToSlash(rel))
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	files := map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(n)))
		if err != nil {
			t.Fatal(err)
		}
		files[n] = b
	}
	s.AddRepo(name, files)
}

// File returns a served file's content.
func (s *Server) File(repo, name string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.repos[repo].files[name]
}

// Files returns a copy of a repository's files.
func (s *Server) Files(repo string) map[string][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]byte{}
	for k, v := range s.repos[repo].files {
		out[k] = v
	}
	return out
}

// SetFile replaces or adds one file of a repository.
func (s *Server) SetFile(repo, name string, content []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repos[repo].files[name] = content
}

// SetCommit moves the repository's "main" to another commit.
func (s *Server) SetCommit(repo, commit string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repos[repo].commit = commit
}

// Tamper makes the server misbehave for repo in one of the Tamper* ways ("" stops).
func (s *Server) Tamper(repo, mode string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tamper[repo] = mode
}

// Count is how many METHOD requests path received.
func (s *Server) Count(method, path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[method+" "+path]
}

// CDNPath is the CDN path an LFS file of repo is downloaded from.
func CDNPath(repo, name string) string { return "/cdn/" + repo + "/" + name }

// IsLFS says whether the Hub would store name in LFS (weights by extension, as
// the default .gitattributes of a model repo does).
func IsLFS(name string) bool {
	for _, ext := range []string{".safetensors", ".gguf", ".bin", ".pt"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.hits[r.Method+" "+r.URL.Path]++
	s.mu.Unlock()
	if rest, ok := strings.CutPrefix(r.URL.Path, "/cdn/"); ok {
		s.serveCDN(w, r, rest)
		return
	}
	if rest, ok := strings.CutPrefix(r.URL.Path, "/api/models/"); ok {
		s.serveAPI(w, r, rest)
		return
	}
	name, after, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/resolve/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	if renamed, ok := strings.CutPrefix(name, "old-name/"); ok {
		// A renamed repo answers with a relative redirect, as the Hub does.
		http.Redirect(w, r, "/org/"+renamed+"/resolve/"+after, http.StatusTemporaryRedirect)
		return
	}
	rev, file, _ := strings.Cut(after, "/")
	rp, ok := s.lookup(w, r, name, rev)
	if !ok {
		return
	}
	s.serveResolve(w, r, name, rp, file)
}

// lookup answers the Hub's errors for a repository and revision, or returns
// the repository (a snapshot, safe to read without the lock).
func (s *Server) lookup(w http.ResponseWriter, r *http.Request, name, rev string) (repo, bool) {
	if strings.HasPrefix(name, "gated/") && r.Header.Get("Authorization") != "Bearer "+Token {
		w.Header().Set("X-Error-Code", "GatedRepo")
		w.Header().Set("X-Error-Message", "Access to model "+name+" is restricted.")
		w.WriteHeader(http.StatusUnauthorized)
		return repo{}, false
	}
	s.mu.Lock()
	rp, ok := s.repos[name]
	var snap repo
	if ok {
		snap = repo{commit: rp.commit, files: map[string][]byte{}}
		for k, v := range rp.files {
			snap.files[k] = v
		}
	}
	s.mu.Unlock()
	if !ok {
		w.Header().Set("X-Error-Code", "RepoNotFound")
		w.Header().Set("X-Error-Message", "Repository Not Found for url: "+r.URL.String()+".")
		w.WriteHeader(http.StatusUnauthorized)
		return repo{}, false
	}
	if rev != "main" && rev != snap.commit {
		w.Header().Set("X-Error-Code", "RevisionNotFound")
		w.Header().Set("X-Error-Message", "Invalid rev id: "+rev)
		w.WriteHeader(http.StatusNotFound)
		return repo{}, false
	}
	return snap, true
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, rest string) {
	name, rev, ok := strings.Cut(rest, "/revision/")
	if !ok {
		name, rev = rest, "main"
	}
	if u, err := url.PathUnescape(rev); err == nil {
		rev = u
	}
	rp, ok := s.lookup(w, r, name, rev)
	if !ok {
		return
	}
	type sibling struct {
		RFilename string `json:"rfilename"`
	}
	out := struct {
		ID       string    `json:"id"`
		SHA      string    `json:"sha"`
		Siblings []sibling `json:"siblings"`
	}{ID: name, SHA: rp.commit, Siblings: []sibling{}}
	for n := range rp.files {
		out.Siblings = append(out.Siblings, sibling{n})
	}
	sort.Slice(out.Siblings, func(i, j int) bool { return out.Siblings[i].RFilename < out.Siblings[j].RFilename })
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

func (s *Server) serveResolve(w http.ResponseWriter, r *http.Request, name string, rp repo, file string) {
	body, ok := rp.files[file]
	if !ok {
		w.Header().Set("X-Error-Code", "EntryNotFound")
		w.WriteHeader(http.StatusNotFound)
		return
	}
	s.mu.Lock()
	tamper := s.tamper[name]
	s.mu.Unlock()
	w.Header().Set("X-Repo-Commit", rp.commit)
	if IsLFS(file) { // stored in LFS: redirect to the CDN
		sum := sha256.Sum256(body)
		size, etag := len(body), hex.EncodeToString(sum[:])
		switch tamper {
		case TamperSize, TamperSizeChunked:
			size++
		case TamperSHA:
			etag = strings.Repeat("ab", 32)
		}
		w.Header().Set("X-Linked-Size", strconv.Itoa(size))
		w.Header().Set("X-Linked-Etag", `"`+etag+`"`)
		w.Header().Set("ETag", `"pointer-etag"`)
		http.Redirect(w, r, s.CDN.URL+CDNPath(name, file)+"?X-Amz-Signature=x", http.StatusFound)
		return
	}
	blob := sha1.Sum(append([]byte(fmt.Sprintf("blob %d\x00", len(body))), body...))
	etag := hex.EncodeToString(blob[:])
	if tamper == TamperGitBlob {
		etag = strings.Repeat("cd", 20)
	}
	w.Header().Set("ETag", `"`+etag+`"`)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodGet {
		w.Write(body)
	}
}

func (s *Server) serveCDN(w http.ResponseWriter, r *http.Request, path string) {
	if s.BeforeCDN != nil && r.Method == http.MethodGet {
		s.BeforeCDN()
	}
	if r.Header.Get("Authorization") != "" {
		// The CDN is another host in reality; the token must not leak to it.
		http.Error(w, "unexpected Authorization at the CDN", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	var body []byte
	var tamper string
	for name, rp := range s.repos { // repo names have one slash; files may have more
		if file, ok := strings.CutPrefix(path, name+"/"); ok {
			if b, ok := rp.files[file]; ok {
				body, tamper = b, s.tamper[name]
			}
		}
	}
	s.mu.Unlock()
	if body == nil {
		http.NotFound(w, r)
		return
	}
	if tamper == TamperSizeChunked {
		// No Content-Length: only the byte count after the download can tell.
		w.Write(body[:1])
		w.(http.Flusher).Flush()
		w.Write(body[1:])
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	switch tamper {
	case TamperTruncate:
		w.Write(body[:len(body)/2]) // then the connection closes short
		return
	case TamperStall:
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		return
	case TamperFlip:
		body = append([]byte(nil), body...)
		body[len(body)-1] ^= 1
	}
	w.Write(body)
}
