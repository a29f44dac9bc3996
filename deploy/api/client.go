package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Client calls the management API. Each call returns the decoded answer and
// the body as it came, for callers that print the API's own JSON.
type Client struct {
	BaseURL string // e.g. http://127.0.0.1:8080
	APIKey  string
	HTTP    *http.Client // default http.DefaultClient
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.APIKey)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error *Error `json:"error"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Error == nil {
			return raw, &Error{Status: resp.StatusCode, Type: "server_error",
				Message: fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(raw)))}
		}
		e.Error.Status = resp.StatusCode
		return raw, e.Error
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return raw, fmt.Errorf("decoding the answer to %s %s: %w", method, path, err)
		}
	}
	return raw, nil
}

func path(name string, rest ...string) string {
	return "/v1/deployments/" + url.PathEscape(name) + strings.Join(rest, "")
}

// Create sends a create request: the spec's JSON fields with "name".
func (c *Client) Create(ctx context.Context, body []byte) (Deployment, []byte, error) {
	var d Deployment
	raw, err := c.do(ctx, "POST", "/v1/deployments", body, &d)
	return d, raw, err
}

// List returns every deployment but the deleted ones.
func (c *Client) List(ctx context.Context) ([]Deployment, []byte, error) {
	var l List[Deployment]
	raw, err := c.do(ctx, "GET", "/v1/deployments", nil, &l)
	return l.Data, raw, err
}

// Get returns one deployment.
func (c *Client) Get(ctx context.Context, name string) (Deployment, []byte, error) {
	var d Deployment
	raw, err := c.do(ctx, "GET", path(name), nil, &d)
	return d, raw, err
}

// Update sends a JSON merge patch of the spec.
func (c *Client) Update(ctx context.Context, name string, patch []byte) (Deployment, []byte, error) {
	var d Deployment
	raw, err := c.do(ctx, "PATCH", path(name), patch, &d)
	return d, raw, err
}

// Action is stop, start, wake or delete.
func (c *Client) Action(ctx context.Context, name, action string) (Deployment, []byte, error) {
	var d Deployment
	var raw []byte
	var err error
	if action == "delete" {
		raw, err = c.do(ctx, "DELETE", path(name), nil, &d)
	} else {
		raw, err = c.do(ctx, "POST", path(name, "/", action), nil, &d)
	}
	return d, raw, err
}

// Events returns a deployment's events after the event id after ("" = all).
func (c *Client) Events(ctx context.Context, name, after string) ([]Event, []byte, error) {
	var l List[Event]
	q := ""
	if after != "" {
		q = "?after=" + url.QueryEscape(after)
	}
	raw, err := c.do(ctx, "GET", path(name, "/events", q), nil, &l)
	return l.Data, raw, err
}
