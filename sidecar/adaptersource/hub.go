package adaptersource

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DefaultHubEndpoint is the public Hugging Face Hub.
const DefaultHubEndpoint = "https://huggingface.co"

// Hub fetches adapters from the Hugging Face Hub or a server with its URL
// layout: GET {Endpoint}/{repo}/resolve/{revision}/{filename}.
//
// Like huggingface_hub's hf_hub_download it first asks for the file's metadata
// with a HEAD that follows only relative redirects, then downloads from the
// Location it was given (the CDN, for LFS files). It verifies:
//   - size: X-Linked-Size, else Content-Length of the HEAD;
//   - checksum: X-Linked-Etag, else a strong ETag, normalised as huggingface_hub
//     does (W/ and quotes stripped). 64 hex digits are the sha256 of an LFS file;
//     40 hex digits are the git blob id of a regular file; anything else is not a
//     digest and is not checked.
//
// When the HEAD names the commit (X-Repo-Commit), later files are fetched at that
// commit, so a branch moving mid-fetch cannot mix two versions of an adapter.
type Hub struct {
	Endpoint string       // no trailing slash
	Token    string       // sent as a bearer token to Endpoint's host only
	Client   *http.Client // nil: a client with connect and header timeouts
	// StallTimeout ends a download that receives nothing for this long (a
	// stalled CDN connection would otherwise hang a start for good); 0 means
	// DefaultStallTimeout.
	StallTimeout time.Duration
}

// DefaultStallTimeout is Hub.StallTimeout's default.
const DefaultStallTimeout = 2 * time.Minute

// errStalled ends a download that stopped receiving.
var errStalled = errors.New("download stalled: nothing received")

// NewHubFromEnv configures a Hub as huggingface_hub does: HF_ENDPOINT (default
// DefaultHubEndpoint) and HF_TOKEN.
func NewHubFromEnv() *Hub {
	ep := os.Getenv("HF_ENDPOINT")
	if ep == "" {
		ep = DefaultHubEndpoint
	}
	return &Hub{Endpoint: strings.TrimRight(ep, "/"), Token: os.Getenv("HF_TOKEN")}
}

var defaultHTTP = &http.Client{Transport: &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	TLSHandshakeTimeout:   10 * time.Second,
	ResponseHeaderTimeout: 30 * time.Second,
	IdleConnTimeout:       90 * time.Second,
}}

// Fetch implements Source for KindHub refs.
func (h *Hub) Fetch(ctx context.Context, ref Ref, dst string) (Manifest, error) {
	if ref.Kind != KindHub {
		return Manifest{}, fmt.Errorf("%w: hub source given %s ref %q", ErrBadRef, ref.Kind, ref)
	}
	m := Manifest{ID: ref.String(), Origin: h.Endpoint + "/" + ref.Name + "@" + ref.Revision}
	rev := ref.Revision
	for _, name := range AdapterFiles {
		f, commit, err := h.FetchFile(ctx, ref.Name, rev, name, dst, MaxFileSize)
		if err != nil {
			return Manifest{}, fmt.Errorf("%s %s: %w", ref, name, err)
		}
		if commit != "" && m.Revision == "" {
			m.Revision, rev = commit, commit
		}
		m.Files = append(m.Files, f)
	}
	m.Fetched = time.Now().UTC()
	return m, nil
}

// FetchFile downloads one file of repo at rev into dst/name (name may hold
// slashes; its folders are created), verified against what the Hub declares and
// refused past limit bytes. It returns the commit the Hub served it from, ""
// when the Hub does not say. On error nothing is left at dst/name.
func (h *Hub) FetchFile(ctx context.Context, repo, rev, name, dst string, limit int64) (File, string, error) {
	if !filepath.IsLocal(name) || strings.Contains(name, `\`) {
		return File{}, "", fmt.Errorf("%w: file name %q would leave the download folder", ErrCorrupt, name)
	}
	meta, err := h.head(ctx, h.resolveURL(repo, rev, name))
	if err != nil {
		return File{}, "", err
	}
	meta.want.limit = limit
	if dir := filepath.Dir(filepath.Join(dst, name)); dir != dst {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return File{}, "", err
		}
	}
	f, err := h.get(ctx, meta, dst, name)
	return f, meta.commit, err
}

func (h *Hub) resolveURL(repo, rev, file string) string {
	// Revisions such as refs/pr/1 are one path segment, escaped as huggingface_hub does.
	return h.Endpoint + "/" + repo + "/resolve/" + url.PathEscape(rev) + "/" + escapePath(file)
}

// escapePath escapes each segment of a slash-separated path.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// fileMeta is what the HEAD says about a file.
type fileMeta struct {
	location string
	commit   string
	want     expect
}

func (h *Hub) head(ctx context.Context, u string) (fileMeta, error) {
	client := *h.client()
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		// As huggingface_hub: a relative Location (a renamed repo) is followed; an
		// absolute one points at the file's storage and is where the GET goes,
		// while the metadata is read from this redirect.
		if len(via) >= 10 || !relativeLocation(req.Response) {
			return http.ErrUseLastResponse
		}
		return nil
	}
	resp, err := h.do(ctx, &client, http.MethodHead, u)
	if err != nil {
		return fileMeta{}, err
	}
	resp.Body.Close()
	if err := statusError(resp); err != nil {
		return fileMeta{}, err
	}
	meta := fileMeta{location: resp.Request.URL.String(), commit: resp.Header.Get("X-Repo-Commit")}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		loc, err := resp.Location()
		if err != nil {
			return fileMeta{}, fmt.Errorf("redirect without a usable Location: %w", err)
		}
		meta.location = loc.String()
	}
	meta.want = hubExpect(resp.Header)
	return meta, nil
}

func hubExpect(hdr http.Header) expect {
	want := expect{size: -1}
	size := hdr.Get("X-Linked-Size")
	if size == "" {
		size = hdr.Get("Content-Length")
	}
	if n, err := strconv.ParseInt(size, 10, 64); err == nil && n >= 0 {
		want.size = n
	}
	etag := hdr.Get("X-Linked-Etag")
	if etag == "" && !strings.HasPrefix(hdr.Get("ETag"), "W/") {
		etag = hdr.Get("ETag")
	}
	etag = strings.ToLower(strings.Trim(strings.TrimPrefix(etag, "W/"), `"`))
	switch {
	case isHex(etag, 64):
		want.sha256 = etag
	case isHex(etag, 40):
		want.gitSHA1 = etag
	}
	return want
}

func (h *Hub) get(ctx context.Context, meta fileMeta, dst, name string) (File, error) {
	stall := h.StallTimeout
	if stall <= 0 {
		stall = DefaultStallTimeout
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := time.AfterFunc(stall, func() { cancel(fmt.Errorf("%s: %w for %v: %w", name, errStalled, stall, context.DeadlineExceeded)) })
	defer timer.Stop()
	resp, err := h.do(ctx, h.client(), http.MethodGet, meta.location)
	if err != nil {
		return File{}, stalled(ctx, err)
	}
	defer resp.Body.Close()
	if err := statusError(resp); err != nil {
		return File{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return File{}, &httpStatusError{method: http.MethodGet, url: meta.location, status: resp.Status}
	}
	if meta.want.size >= 0 && resp.ContentLength >= 0 && resp.ContentLength != meta.want.size {
		return File{}, fmt.Errorf("%w: %s served with %d bytes, metadata declared %d", ErrCorrupt, name, resp.ContentLength, meta.want.size)
	}
	body := readFunc(func(p []byte) (int, error) {
		n, err := resp.Body.Read(p)
		if n > 0 {
			timer.Reset(stall)
		}
		return n, err
	})
	f, err := save(body, dst, name, meta.want)
	return f, stalled(ctx, err)
}

type readFunc func([]byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }

// stalled names the stall as the cause of err when the stall timer ended ctx.
func stalled(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); err != nil && errors.Is(cause, errStalled) {
		return cause
	}
	return err
}

func (h *Hub) do(ctx context.Context, c *http.Client, method, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	// Identity, so sizes are those of the file rather than of a compressed body.
	req.Header.Set("Accept-Encoding", "identity")
	if h.Token != "" && sameHost(u, h.Endpoint) {
		// net/http drops Authorization itself on redirects to other hosts.
		req.Header.Set("Authorization", "Bearer "+h.Token)
	}
	return c.Do(req)
}

func (h *Hub) client() *http.Client {
	if h.Client != nil {
		return h.Client
	}
	return defaultHTTP
}

func relativeLocation(resp *http.Response) bool {
	if resp == nil {
		return false
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	return err == nil && u.Scheme == "" && u.Host == ""
}

func sameHost(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && ua.Host == ub.Host
}

// statusError maps the Hub's error statuses; a 404, or a 401 whose X-Error-Code
// says the repository or revision does not exist (what the Hub answers for
// private repos without a token), is ErrNotFound.
func statusError(resp *http.Response) error {
	if resp.StatusCode < 400 {
		return nil
	}
	msg := resp.Header.Get("X-Error-Message")
	if msg == "" {
		msg = resp.Status
	}
	code := resp.Header.Get("X-Error-Code")
	switch {
	case resp.StatusCode == http.StatusNotFound, code == "RepoNotFound", code == "RevisionNotFound", code == "EntryNotFound":
		return fmt.Errorf("%w: %s %s (%s; a private repository needs a token)", ErrNotFound, resp.Request.Method, resp.Request.URL, msg)
	case resp.StatusCode == http.StatusUnauthorized, resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w: %s %s (%s)", ErrAuth, resp.Request.Method, resp.Request.URL, msg)
	}
	return &httpStatusError{method: resp.Request.Method, url: resp.Request.URL.String(), status: resp.Status}
}
