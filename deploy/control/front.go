package control

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/graft-ai/graft/deploy"
)

// Front serves one deployment's OpenAI API on an address of its own until a
// gateway exists to do it for every deployment: it passes each request to a
// live replica (round robin), waking the deployment first when it has none.
// graft up puts the demo deployment behind it.
type Front struct {
	Manager    *deploy.Manager
	Deployment string
	// WakeTimeout bounds how long a request waits for a replica; default 2m.
	WakeTimeout time.Duration
	next        atomic.Uint64
}

func (f *Front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/healthz":
		w.Write([]byte("ok\n"))
		return
	case "/readyz":
		// Ready to take requests: it has a replica, or gets one on request.
		rec, err := f.Manager.Get(r.Context(), f.Deployment)
		switch {
		case err != nil:
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		case rec.Status == deploy.Stopped || rec.Status == deploy.Errored || rec.Status == deploy.Deleted:
			http.Error(w, "deployment "+f.Deployment+" is "+string(rec.Status)+": "+rec.StatusReason, http.StatusServiceUnavailable)
		default:
			w.Write([]byte("ok\n"))
		}
		return
	}
	addrs := f.live()
	if len(addrs) == 0 {
		timeout := f.WakeTimeout
		if timeout <= 0 {
			timeout = 2 * time.Minute
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		err := f.Manager.Wake(ctx, f.Deployment)
		cancel()
		if err != nil {
			unavailable(w, err)
			return
		}
		if addrs = f.live(); len(addrs) == 0 {
			unavailable(w, context.DeadlineExceeded)
			return
		}
	}
	target := &url.URL{Scheme: "http", Host: addrs[f.next.Add(1)%uint64(len(addrs))]}
	p := &httputil.ReverseProxy{
		Rewrite:       func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.SetXForwarded() },
		FlushInterval: -1, // SSE: every token as it comes
	}
	p.ServeHTTP(w, r)
}

func (f *Front) live() []string {
	var out []string
	for _, r := range f.Manager.Provider().List(f.Deployment) {
		if r.Phase == deploy.PhaseLive {
			out = append(out, r.Addr)
		}
	}
	return out
}

func unavailable(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After", "5")
	w.WriteHeader(http.StatusServiceUnavailable)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"message": err.Error(), "type": "server_error", "param": nil, "code": "deployment_unavailable"}})
}
