// Package files keeps the files uploaded for fine-tuning (OpenAI's /v1/files
// with purpose "fine-tune"): the bytes in a folder of the state directory,
// the metadata in Redis. A file is validated line by line before it is
// kept, so a job never starts on a file the trainer cannot read.
package files

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/graft-ai/graft/deploy/state"
	"github.com/graft-ai/graft/finetune/dataset"
)

// Purposes: clients upload fine-tune files; jobs leave fine-tune-results.
const (
	PurposeFineTune = "fine-tune"
	PurposeResults  = "fine-tune-results"
)

// MaxBytes bounds one upload.
const MaxBytes = 512 << 20

// File is a stored file as OpenAI's API shows it.
type File struct {
	ID            string  `json:"id"`
	Object        string  `json:"object"` // "file"
	Bytes         int64   `json:"bytes"`
	CreatedAt     int64   `json:"created_at"`
	Filename      string  `json:"filename"`
	Purpose       string  `json:"purpose"`
	Status        string  `json:"status"` // "processed": validated on upload
	StatusDetails *string `json:"status_details"`
	ExpiresAt     *int64  `json:"expires_at"`
	// Tenant owns the file; Examples counts its lines. Neither is shown.
	Tenant   string `json:"tenant,omitempty"`
	Examples int    `json:"examples,omitempty"`
}

// Errors callers map onto API statuses.
var (
	ErrNotFound = errors.New("no such file")
	ErrPurpose  = errors.New(`purpose must be "fine-tune"`)
	ErrTooLarge = fmt.Errorf("the file is larger than %d bytes", MaxBytes)
)

// InvalidError is an upload whose content is not a fine-tuning dataset; its
// message names the bad lines and why.
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string { return "invalid fine-tuning file: " + e.Err.Error() }
func (e *InvalidError) Unwrap() error { return e.Err }

// Store keeps files under Dir and their records in Redis.
type Store struct {
	state *state.Store
	dir   string
}

// NewStore returns a store over dir, creating it.
func NewStore(st *state.Store, dir string) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return nil, err
	}
	return &Store{state: st, dir: dir}, nil
}

// NewID returns a fresh id with prefix, as OpenAI's "file-…" and "ftjob-…".
func NewID(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Path is where the bytes of file id live.
func (s *Store) Path(id string) string { return filepath.Join(s.dir, id+".jsonl") }

// Create validates r as a fine-tuning dataset and keeps it for tenant.
func (s *Store) Create(ctx context.Context, tenant, filename, purpose string, r io.Reader) (File, error) {
	if purpose != PurposeFineTune {
		return File{}, ErrPurpose
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "upload-*")
	if err != nil {
		return File{}, err
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, io.LimitReader(r, MaxBytes+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return File{}, err
	}
	if n > MaxBytes {
		return File{}, ErrTooLarge
	}
	examples, err := dataset.ParseFile(tmp.Name())
	if err != nil {
		var de *dataset.Error
		if errors.As(err, &de) || errors.Is(err, dataset.ErrEmpty) {
			return File{}, &InvalidError{Err: err}
		}
		return File{}, err
	}
	f := File{Bytes: n, Filename: cleanName(filename), Purpose: purpose, Tenant: tenant, Examples: len(examples)}
	return s.keep(ctx, f, tmp.Name())
}

// PutResult keeps data as tenant's file of purpose fine-tune-results: what a
// job leaves beside its adapter. Clients cannot upload such files.
func (s *Store) PutResult(ctx context.Context, tenant, filename string, data []byte) (File, error) {
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "result-*")
	if err != nil {
		return File{}, err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return File{}, err
	}
	return s.keep(ctx, File{Bytes: int64(len(data)), Filename: filename, Purpose: PurposeResults, Tenant: tenant}, tmp.Name())
}

// keep moves the bytes at tmp under a fresh id and records f for them.
func (s *Store) keep(ctx context.Context, f File, tmp string) (File, error) {
	now := time.Now()
	f.ID, f.Object, f.CreatedAt, f.Status = NewID("file-"), "file", now.Unix(), "processed"
	if err := os.Rename(tmp, s.Path(f.ID)); err != nil {
		return File{}, err
	}
	rec, _ := json.Marshal(f)
	if err := s.state.PutTuningFile(ctx, f.ID, f.Tenant, now, rec); err != nil {
		os.Remove(s.Path(f.ID))
		return File{}, err
	}
	return f, nil
}

// cleanName keeps the base name a client sent, without path parts.
func cleanName(name string) string {
	name = filepath.Base(strings.ReplaceAll(name, "\\", "/"))
	if name == "." || name == "/" || name == "" {
		return "upload.jsonl"
	}
	if len(name) > 255 {
		name = name[:255]
	}
	return name
}

// Get returns tenant's file id; another tenant's file is ErrNotFound.
func (s *Store) Get(ctx context.Context, tenant, id string) (File, error) {
	if !validID(id) {
		return File{}, ErrNotFound
	}
	rec, err := s.state.TuningFile(ctx, id)
	if errors.Is(err, state.ErrNoRecord) {
		return File{}, ErrNotFound
	}
	if err != nil {
		return File{}, err
	}
	var f File
	if err := json.Unmarshal(rec, &f); err != nil {
		return File{}, fmt.Errorf("file %s: %w", id, err)
	}
	if f.Tenant != tenant {
		return File{}, ErrNotFound
	}
	return f, nil
}

// validID accepts the ids NewID makes, so no other text reaches a key or a path.
func validID(id string) bool {
	rest, ok := strings.CutPrefix(id, "file-")
	if !ok || len(rest) == 0 || len(rest) > 64 {
		return false
	}
	for _, c := range rest {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// List returns tenant's files, newest first.
func (s *Store) List(ctx context.Context, tenant string) ([]File, error) {
	recs, err := s.state.TuningFiles(ctx, tenant)
	if err != nil {
		return nil, err
	}
	out := []File{}
	for _, rec := range recs {
		var f File
		if json.Unmarshal(rec, &f) == nil && f.Tenant == tenant {
			out = append(out, f)
		}
	}
	return out, nil
}

// Delete removes tenant's file id.
func (s *Store) Delete(ctx context.Context, tenant, id string) error {
	if _, err := s.Get(ctx, tenant, id); err != nil {
		return err
	}
	if err := s.state.DeleteTuningFile(ctx, id, tenant); err != nil {
		return err
	}
	if err := os.Remove(s.Path(id)); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// Open returns the content of tenant's file id.
func (s *Store) Open(ctx context.Context, tenant, id string) (*os.File, File, error) {
	f, err := s.Get(ctx, tenant, id)
	if err != nil {
		return nil, File{}, err
	}
	fh, err := os.Open(s.Path(id))
	if os.IsNotExist(err) {
		return nil, File{}, ErrNotFound
	}
	return fh, f, err
}
