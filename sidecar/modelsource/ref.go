package modelsource

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/graft-ai/graft/sidecar/adaptersource"
)

// Scheme starts every Hub model id.
const Scheme = "hf://"

// IsRemote says whether model names a Hub model rather than a local path.
func IsRemote(model string) bool { return strings.HasPrefix(model, Scheme) }

// Ref is a parsed hf:// model id.
type Ref struct {
	Repo     string // "org/name" or "name"
	File     string // a .gguf file in the repository, or "" for the model's files
	Revision string // "main" when the id names none
}

// String is the canonical id: ParseRef(r.String()) == r.
func (r Ref) String() string {
	s := Scheme + r.Repo
	if r.File != "" {
		s += "/" + r.File
	}
	return s + "@" + r.Revision
}

// badRefError is a model id ParseRef refuses.
type badRefError struct{ msg string }

func (e *badRefError) Error() string { return e.msg }

// ParseRef parses hf://org/name[/FILE.gguf][@revision].
func ParseRef(id string) (Ref, error) {
	r, err := parseRef(id)
	if err != nil {
		return Ref{}, &badRefError{err.Error()}
	}
	return r, nil
}

func parseRef(id string) (Ref, error) {
	rest, ok := strings.CutPrefix(id, Scheme)
	if !ok {
		return Ref{}, fmt.Errorf("model %q: not an %sorg/name id", id, Scheme)
	}
	p, rev, hasRev := strings.Cut(rest, "@")
	segs := strings.Split(p, "/")
	var r Ref
	if len(segs) > 2 {
		r.File = strings.Join(segs[2:], "/")
		p = strings.Join(segs[:2], "/")
		if err := checkFile(r.File); err != nil {
			return Ref{}, fmt.Errorf("model %q: %v", id, err)
		}
	}
	repo := Scheme + p
	if hasRev {
		repo += "@" + rev
	}
	ar, err := adaptersource.ParseRef(repo)
	if err != nil || ar.Kind != adaptersource.KindHub {
		return Ref{}, fmt.Errorf("model %q: want %sorg/name[/FILE.gguf][@revision]: %v", id, Scheme, err)
	}
	r.Repo, r.Revision = ar.Name, ar.Revision
	return r, nil
}

// checkFile accepts a relative path of up to 8 plain segments ending in .gguf.
func checkFile(f string) error {
	if !strings.HasSuffix(strings.ToLower(f), ".gguf") {
		return errors.New("a path after org/name must name a .gguf file")
	}
	segs := strings.Split(f, "/")
	if len(segs) > 8 || path.Clean(f) != f {
		return errors.New("the .gguf file's path is not a plain relative path")
	}
	for _, s := range segs {
		if s == "" || s == "." || s == ".." || len(s) > 255 || strings.ContainsAny(s, "\\\x00") {
			return fmt.Errorf("path segment %q not allowed", s)
		}
	}
	return nil
}

// isCommit says whether rev is a full commit id, which never moves.
func isCommit(rev string) bool {
	if len(rev) != 40 {
		return false
	}
	for _, c := range []byte(rev) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
