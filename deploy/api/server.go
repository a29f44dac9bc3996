package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/graft-ai/graft/deploy"
)

// maxBody bounds a request body: a spec is a few hundred bytes.
const maxBody = 1 << 20

// Config describes the API server.
type Config struct {
	Manager *deploy.Manager
	// APIKey, when set, must come as "Authorization: Bearer KEY".
	APIKey string
	// WakeTimeout bounds POST .../wake; default 5m.
	WakeTimeout time.Duration
	Log         *slog.Logger
}

// Handler serves the management API under /v1/deployments.
func Handler(cfg Config) http.Handler {
	if cfg.WakeTimeout <= 0 {
		cfg.WakeTimeout = 5 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &server{cfg: cfg, m: cfg.Manager}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/deployments", s.create)
	mux.HandleFunc("GET /v1/deployments", s.list)
	mux.HandleFunc("GET /v1/deployments/{name}", s.named(s.get))
	mux.HandleFunc("PATCH /v1/deployments/{name}", s.named(s.update))
	mux.HandleFunc("DELETE /v1/deployments/{name}", s.named(s.remove))
	mux.HandleFunc("POST /v1/deployments/{name}/stop", s.named(s.stop))
	mux.HandleFunc("POST /v1/deployments/{name}/start", s.named(s.start))
	mux.HandleFunc("POST /v1/deployments/{name}/wake", s.named(s.wake))
	mux.HandleFunc("GET /v1/deployments/{name}/events", s.named(s.events))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, newError(http.StatusNotFound, "invalid_request_error", "unknown_url", "",
			"unknown request URL: "+r.Method+" "+r.URL.Path))
	})
	return s.auth(mux)
}

type server struct {
	cfg Config
	m   *deploy.Manager
}

func (s *server) auth(next http.Handler) http.Handler {
	if s.cfg.APIKey == "" {
		return next
	}
	want := []byte("Bearer " + s.cfg.APIKey)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			writeError(w, newError(http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "",
				"missing or incorrect API key: send Authorization: Bearer KEY"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// named checks the {name} path part before the handler sees it.
func (s *server) named(h func(w http.ResponseWriter, r *http.Request, name string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := deploy.CheckName(name); err != nil {
			writeError(w, newError(http.StatusNotFound, "invalid_request_error", "deployment_not_found", "name", err.Error()))
			return
		}
		h(w, r, name)
	}
}

func (s *server) body(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") &&
		!strings.HasPrefix(ct, "application/merge-patch+json") {
		writeError(w, newError(http.StatusUnsupportedMediaType, "invalid_request_error", "", "",
			"Content-Type "+ct+": send application/json"))
		return nil, false
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, newError(http.StatusBadRequest, "invalid_request_error", "", "body", "reading the body: "+err.Error()))
		return nil, false
	}
	return b, true
}

func (s *server) reply(w http.ResponseWriter, status int, rec deploy.Record, err error) {
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, status, toDeployment(rec, s.m.Live(rec.Name)))
}

func (s *server) fail(w http.ResponseWriter, err error) {
	e := toError(err)
	if e.Status >= 500 {
		s.cfg.Log.Error("management API", "err", err)
	}
	writeError(w, e)
}

func (s *server) create(w http.ResponseWriter, r *http.Request) {
	b, ok := s.body(w, r)
	if !ok {
		return
	}
	name, spec, err := deploy.DecodeCreate(b)
	if err != nil {
		s.fail(w, err)
		return
	}
	// Behind the front door the gateway names the caller's tenant (and
	// overwrites whatever the client sent).
	rec, err := s.m.CreateFor(r.Context(), r.Header.Get(TenantHeader), name, spec)
	s.reply(w, http.StatusCreated, rec, err)
}

func (s *server) list(w http.ResponseWriter, r *http.Request) {
	recs, err := s.m.List(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	all := r.URL.Query().Get("all") == "true"
	out := List[Deployment]{Object: "list", Data: []Deployment{}}
	for _, rec := range recs {
		if rec.Status != deploy.Deleted || all {
			out.Data = append(out.Data, toDeployment(rec, s.m.Live(rec.Name)))
		}
	}
	slices.SortFunc(out.Data, func(a, b Deployment) int { return strings.Compare(a.Name, b.Name) })
	writeJSON(w, http.StatusOK, out)
}

func (s *server) get(w http.ResponseWriter, r *http.Request, name string) {
	rec, err := s.m.Get(r.Context(), name)
	s.reply(w, http.StatusOK, rec, err)
}

func (s *server) update(w http.ResponseWriter, r *http.Request, name string) {
	b, ok := s.body(w, r)
	if !ok {
		return
	}
	rec, err := s.m.Update(r.Context(), name, b)
	s.reply(w, http.StatusOK, rec, err)
}

func (s *server) remove(w http.ResponseWriter, r *http.Request, name string) {
	rec, err := s.m.Delete(r.Context(), name)
	s.reply(w, http.StatusOK, rec, err)
}

func (s *server) stop(w http.ResponseWriter, r *http.Request, name string) {
	rec, err := s.m.Stop(r.Context(), name)
	s.reply(w, http.StatusOK, rec, err)
}

func (s *server) start(w http.ResponseWriter, r *http.Request, name string) {
	rec, err := s.m.Start(r.Context(), name)
	s.reply(w, http.StatusOK, rec, err)
}

// wake waits until the deployment serves; past WakeTimeout it answers 503
// with Retry-After, as a gateway holding a request would.
func (s *server) wake(w http.ResponseWriter, r *http.Request, name string) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.WakeTimeout)
	defer cancel()
	err := s.m.Wake(ctx, name)
	if errors.Is(err, context.DeadlineExceeded) {
		err = newError(http.StatusServiceUnavailable, "server_error", "deployment_waking", "",
			"deployment "+name+" is still starting; retry")
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	rec, err := s.m.Get(r.Context(), name)
	s.reply(w, http.StatusOK, rec, err)
}

func (s *server) events(w http.ResponseWriter, r *http.Request, name string) {
	limit := int64(1000)
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, newError(http.StatusBadRequest, "invalid_request_error", "invalid_value", "limit", "limit: want 1 to 1000"))
			return
		}
		limit = n
	}
	after := r.URL.Query().Get("after")
	if after != "" && !validStreamID(after) {
		writeError(w, newError(http.StatusBadRequest, "invalid_request_error", "invalid_value", "after", "after: want an event id such as 1733450000000-0"))
		return
	}
	if _, err := s.m.Get(r.Context(), name); err != nil {
		s.fail(w, err)
		return
	}
	evs, err := s.m.Events(r.Context(), name, after, limit)
	if err != nil {
		s.fail(w, err)
		return
	}
	out := List[Event]{Object: "list", Data: make([]Event, 0, len(evs))}
	for _, e := range evs {
		out.Data = append(out.Data, toEvent(e))
	}
	writeJSON(w, http.StatusOK, out)
}

// validStreamID accepts a Redis stream id, MS-SEQ, so no other syntax
// reaches XRANGE.
func validStreamID(s string) bool {
	ms, seq, ok := strings.Cut(s, "-")
	_, err1 := strconv.ParseUint(ms, 10, 64)
	_, err2 := strconv.ParseUint(seq, 10, 64)
	return ok && err1 == nil && err2 == nil
}
