package sidecar

import (
	"net/http"
	"time"
)

// HTTPTimeouts bound how long a client may hold a connection without making
// progress. There is deliberately no write timeout: net/http's WriteTimeout is
// a deadline for the whole response, so it would cut a streamed (SSE)
// completion at that age however healthy it is. Read deadlines are safe for
// streams: net/http clears the read deadline once the body has been read.
type HTTPTimeouts struct {
	// ReadHeader bounds reading a request's headers; default 10s.
	ReadHeader time.Duration
	// Read bounds reading a whole request, headers and body, so a body sent a
	// byte at a time is cut; default 60s, time for the largest body accepted
	// (32 MiB) on a slow link.
	Read time.Duration
	// Idle closes a keep-alive connection with no request for this long;
	// default 75s, longer than the 60s idle timeout of common load balancers,
	// so that the balancer, not the pod, closes an idle connection first and
	// never sends a request into one being closed.
	Idle time.Duration
}

func (t *HTTPTimeouts) defaults() {
	if t.ReadHeader <= 0 {
		t.ReadHeader = 10 * time.Second
	}
	if t.Read <= 0 {
		t.Read = 60 * time.Second
	}
	if t.Idle <= 0 {
		t.Idle = 75 * time.Second
	}
}

func (t *HTTPTimeouts) server(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: t.ReadHeader, ReadTimeout: t.Read, IdleTimeout: t.Idle}
}

// servedBy names the replica in every response, so a client or a test behind
// the front door can tell which replica answered.
func servedBy(id string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Graft-Replica", id)
		h.ServeHTTP(w, r)
	})
}

// closing has every response say Connection: close once draining says so, so
// a router drops each connection after its last request instead of racing
// the listener's close with a new one on an idle connection.
func closing(draining func() bool, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if draining() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}
