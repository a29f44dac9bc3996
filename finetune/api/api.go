// Package api serves OpenAI's files and fine-tuning API (/v1/files and
// /v1/fine_tuning/jobs) from the control process. Behind the front door the
// gateway has checked the caller's key and names its tenant in
// X-Graft-Tenant; files and jobs belong to that tenant, and another
// tenant's look as if they did not exist.
package api

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/graft-ai/graft/finetune/files"
	"github.com/graft-ai/graft/finetune/jobs"
)

// TenantHeader names the caller's tenant (set by the gateway).
const TenantHeader = "X-Graft-Tenant"

// DefaultTenant owns what callers reaching the control API directly, with no
// gateway in front, upload and create: graft up's own key's tenant.
const DefaultTenant = "default"

// Config describes the API.
type Config struct {
	Files *files.Store
	Jobs  *jobs.Service
	Log   *slog.Logger
}

// Routes adds the API's routes to mux.
func Routes(mux *http.ServeMux, cfg Config) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &server{cfg: cfg}
	mux.HandleFunc("POST /v1/files", s.upload)
	mux.HandleFunc("GET /v1/files", s.listFiles)
	mux.HandleFunc("GET /v1/files/{id}", s.getFile)
	mux.HandleFunc("DELETE /v1/files/{id}", s.deleteFile)
	mux.HandleFunc("GET /v1/files/{id}/content", s.content)
	mux.HandleFunc("POST /v1/fine_tuning/jobs", s.createJob)
	mux.HandleFunc("GET /v1/fine_tuning/jobs", s.listJobs)
	mux.HandleFunc("GET /v1/fine_tuning/jobs/{id}", s.getJob)
	mux.HandleFunc("POST /v1/fine_tuning/jobs/{id}/cancel", s.cancelJob)
	mux.HandleFunc("GET /v1/fine_tuning/jobs/{id}/events", s.events)
	notFound := func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "invalid_request_error", "unknown_url", "", "Unknown request URL: "+r.Method+" "+r.URL.Path)
	}
	mux.HandleFunc("/v1/files/", notFound)
	mux.HandleFunc("/v1/fine_tuning/", notFound)
}

type server struct{ cfg Config }

func tenant(r *http.Request) string {
	if t := r.Header.Get(TenantHeader); t != "" {
		return t
	}
	return DefaultTenant
}

type apiError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func ptr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func writeError(w http.ResponseWriter, status int, typ, code, param, msg string) {
	writeJSON(w, status, map[string]apiError{"error": {Message: msg, Type: typ, Param: ptr(param), Code: ptr(code)}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fail maps an error of the stores onto its status and OpenAI shape.
func (s *server) fail(w http.ResponseWriter, err error) {
	var re *jobs.RequestError
	var ie *files.InvalidError
	switch {
	case errors.As(err, &re):
		writeError(w, re.Status, "invalid_request_error", re.Code, re.Param, re.Msg)
	case errors.As(err, &ie):
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_file_format", "file", ie.Error())
	case errors.Is(err, files.ErrNotFound):
		writeError(w, http.StatusNotFound, "invalid_request_error", "file_not_found", "id", "No such File object.")
	case errors.Is(err, jobs.ErrNotFound):
		writeError(w, http.StatusNotFound, "invalid_request_error", "fine_tuning_job_not_found", "id", "No such fine-tuning job.")
	case errors.Is(err, files.ErrPurpose):
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_value", "purpose", `Graft stores files for fine-tuning only: purpose must be "fine-tune".`)
	case errors.Is(err, files.ErrTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "invalid_request_error", "file_too_large", "file", err.Error())
	default:
		s.cfg.Log.Error("fine-tuning API", "err", err)
		writeError(w, http.StatusInternalServerError, "server_error", "", "", "The server had an error while processing your request.")
	}
}

func (s *server) upload(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, files.MaxBytes+1<<20)
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.fail(w, files.ErrTooLarge)
			return
		}
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_request", "file",
			"Send multipart/form-data with a file and a purpose: "+err.Error())
		return
	}
	defer r.MultipartForm.RemoveAll()
	fh := r.MultipartForm.File["file"]
	if len(fh) != 1 {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "missing_required_parameter", "file", "You must provide exactly one file.")
		return
	}
	purpose := r.FormValue("purpose")
	if purpose == "" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "missing_required_parameter", "purpose", "You must provide a purpose.")
		return
	}
	in, err := fh[0].Open()
	if err != nil {
		s.fail(w, err)
		return
	}
	defer in.Close()
	f, err := s.cfg.Files.Create(r.Context(), tenant(r), fh[0].Filename, purpose, in)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, public(f))
}

// public hides what only Graft keeps.
func public(f files.File) files.File {
	f.Tenant, f.Examples = "", 0
	return f
}

type list[T any] struct {
	Object  string  `json:"object"`
	Data    []T     `json:"data"`
	HasMore bool    `json:"has_more"`
	FirstID *string `json:"first_id,omitempty"`
	LastID  *string `json:"last_id,omitempty"`
}

func (s *server) listFiles(w http.ResponseWriter, r *http.Request) {
	fs, err := s.cfg.Files.List(r.Context(), tenant(r))
	if err != nil {
		s.fail(w, err)
		return
	}
	purpose := r.URL.Query().Get("purpose")
	out := list[files.File]{Object: "list", Data: []files.File{}}
	for _, f := range fs {
		if purpose == "" || f.Purpose == purpose {
			out.Data = append(out.Data, public(f))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) getFile(w http.ResponseWriter, r *http.Request) {
	f, err := s.cfg.Files.Get(r.Context(), tenant(r), r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, public(f))
}

func (s *server) deleteFile(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.cfg.Files.Delete(r.Context(), tenant(r), id); err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": "file", "deleted": true})
}

func (s *server) content(w http.ResponseWriter, r *http.Request) {
	fh, f, err := s.cfg.Files.Open(r.Context(), tenant(r), r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	defer fh.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(f.Bytes, 10))
	_, _ = io.Copy(w, fh)
}

func (s *server) createJob(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", "", "Reading the body: "+err.Error())
		return
	}
	req, err := jobs.Decode(body)
	if err != nil {
		s.fail(w, err)
		return
	}
	j, err := s.cfg.Jobs.Create(r.Context(), tenant(r), req)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, j.Public())
}

// page reads OpenAI's after and limit (1 to 100, default 20).
func page(w http.ResponseWriter, r *http.Request) (after string, limit int, ok bool) {
	limit = 20
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_value", "limit", "limit: want 1 to 100")
			return "", 0, false
		}
		limit = n
	}
	return r.URL.Query().Get("after"), limit, true
}

func (s *server) listJobs(w http.ResponseWriter, r *http.Request) {
	after, limit, ok := page(w, r)
	if !ok {
		return
	}
	js, more, err := s.cfg.Jobs.List(r.Context(), tenant(r), after, limit)
	if err != nil {
		s.fail(w, err)
		return
	}
	out := list[map[string]any]{Object: "list", Data: []map[string]any{}, HasMore: more}
	for _, j := range js {
		out.Data = append(out.Data, j.Public())
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) getJob(w http.ResponseWriter, r *http.Request) {
	j, err := s.cfg.Jobs.Get(r.Context(), tenant(r), r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, j.Public())
}

func (s *server) cancelJob(w http.ResponseWriter, r *http.Request) {
	j, err := s.cfg.Jobs.Cancel(r.Context(), tenant(r), r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, j.Public())
}

func (s *server) events(w http.ResponseWriter, r *http.Request) {
	after, limit, ok := page(w, r)
	if !ok {
		return
	}
	evs, more, err := s.cfg.Jobs.Events(r.Context(), tenant(r), r.PathValue("id"), after, limit)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, list[jobs.Event]{Object: "list", Data: evs, HasMore: more})
}
