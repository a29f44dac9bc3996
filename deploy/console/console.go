// Package console is the platform's web console, served by the control
// process under /console: deployments with their status, replicas, adapters
// and events; live request rate, tokens/s and time to first token per
// deployment; a playground that streams a chat answer; recent traces drawn
// as span waterfalls from Jaeger's query API.
//
// Pages are plain HTML from html/template. A page is a shell: the data in it
// are fragments (also html/template) that a few lines of JavaScript fetch
// with the admin key, kept in the browser's session storage, and refresh in
// place. Changes go to the management API, mounted under /console/api/v1
// behind the same key check, so the console shows the API's own errors.
//
// Adding a page (fine-tuning jobs, say) is one entry in pages (pages.go), a
// template defining its "content" (a shell naming its fragments), and its
// fragment handlers registered in routes; lineChart (chart.go) draws any
// series, a loss curve as well as a request rate.
package console

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/deploy/state"
)

// Deployments is what the console reads of the deployments; *deploy.Manager
// is one.
type Deployments interface {
	List(ctx context.Context) ([]deploy.Record, error)
	Get(ctx context.Context, name string) (deploy.Record, error)
	Events(ctx context.Context, name, after string, n int64) ([]deploy.Event, error)
	Live(name string) int
}

// Store is what the console reads of Redis: replicas with their adapter
// residency, and API keys; *state.Store is one.
type Store interface {
	Replicas(ctx context.Context, deployment string) ([]state.Replica, error)
	LookupAPIKey(ctx context.Context, hash string) (state.APIKey, error)
}

// Config describes a console.
type Config struct {
	Deployments Deployments
	Store       Store
	// API is the management API (/v1/deployments...) without a key check of
	// its own: the console checks the key before passing a call on.
	API http.Handler
	// APIKey is the management API's own key; an admin API key stored in
	// Redis (the front door's) is accepted as well.
	APIKey string
	// JaegerURL is Jaeger's query API (http://host:port); empty hides traces.
	JaegerURL string
	// FineTuning lists the fine-tuning jobs; nil shows none.
	FineTuning FineTuning
	// Scrape is how often the charts read the replicas' /metrics while
	// someone looks; default 2s.
	Scrape time.Duration
	// HTTP reaches the replicas and Jaeger; default a client with a 5 s
	// timeout.
	HTTP *http.Client
	Log  *slog.Logger
}

// Console serves /console.
type Console struct {
	cfg     Config
	mux     *http.ServeMux
	front   atomic.Pointer[frontDoor]
	charts  *sampler
	baseCtx context.Context
}

// New makes the console; ctx bounds its background scraping.
func New(ctx context.Context, cfg Config) *Console {
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 5 * time.Second}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Scrape <= 0 {
		cfg.Scrape = 2 * time.Second
	}
	c := &Console{cfg: cfg, mux: http.NewServeMux(), baseCtx: ctx}
	c.charts = newSampler(ctx, cfg)
	c.routes()
	return c
}

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The key travels in a header set by script, never in a cookie, so a
	// page elsewhere cannot make the browser act with it; framing is refused.
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	c.mux.ServeHTTP(w, r)
}

// frontDoor is where the playground sends chat requests.
type frontDoor struct {
	url    string // https://host:port, without /v1
	client *http.Client
}

// SetFrontDoor names the OpenAI endpoint the playground uses (the front
// door, once it runs); until then it asks a ready replica directly.
func (c *Console) SetFrontDoor(url string, client *http.Client) {
	c.front.Store(&frontDoor{url: url, client: client})
}
