package adaptersource

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// RepoInfo is what the Hub API says about a repository at a revision.
type RepoInfo struct {
	ID    string `json:"id"`
	SHA   string `json:"sha"` // the commit the revision resolves to
	Files []string
}

// maxRepoInfo bounds the listing's JSON: a repository of tens of thousands of
// files stays well below it.
const maxRepoInfo = 64 << 20

// RepoInfo lists repo at rev as huggingface_hub's model_info does:
// GET {Endpoint}/api/models/{repo}/revision/{rev}, following only relative
// redirects (a renamed repository). Errors wrap ErrNotFound and ErrAuth as
// FetchFile's do.
func (h *Hub) RepoInfo(ctx context.Context, repo, rev string) (RepoInfo, error) {
	u := h.Endpoint + "/api/models/" + repo + "/revision/" + url.PathEscape(rev)
	client := *h.client()
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 || !relativeLocation(req.Response) {
			return http.ErrUseLastResponse
		}
		return nil
	}
	resp, err := h.do(ctx, &client, http.MethodGet, u)
	if err != nil {
		return RepoInfo{}, err
	}
	defer resp.Body.Close()
	if err := statusError(resp); err != nil {
		return RepoInfo{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return RepoInfo{}, &httpStatusError{method: http.MethodGet, url: u, status: resp.Status}
	}
	var body struct {
		ID       string `json:"id"`
		SHA      string `json:"sha"`
		Siblings []struct {
			RFilename string `json:"rfilename"`
		} `json:"siblings"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxRepoInfo)).Decode(&body); err != nil {
		return RepoInfo{}, fmt.Errorf("GET %s: reading the listing: %w", u, err)
	}
	info := RepoInfo{ID: body.ID, SHA: body.SHA}
	for _, s := range body.Siblings {
		info.Files = append(info.Files, s.RFilename)
	}
	return info, nil
}
