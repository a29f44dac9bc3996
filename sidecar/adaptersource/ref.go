package adaptersource

import (
	"errors"
	"fmt"
	"strings"
)

// ErrBadRef is wrapped by every error describing an unusable adapter id.
var ErrBadRef = errors.New("adaptersource: invalid adapter id")

// Kind names the source an adapter comes from.
type Kind string

const (
	KindLocal Kind = "local"
	KindHub   Kind = "hf"
	KindS3    Kind = "s3"
)

// Ref is a parsed adapter id.
type Ref struct {
	Kind Kind
	// Name is the path under the local root (KindLocal), the repository
	// "org/name" (KindHub) or the key prefix, possibly empty (KindS3).
	Name     string
	Bucket   string // KindS3 only
	Revision string // KindHub only; "main" when the id names none
}

// DefaultRevision is the Hub revision used when an id names none, as in huggingface_hub.
const DefaultRevision = "main"

// maxIDLen bounds ids: they arrive from API clients.
const maxIDLen = 512

// String returns the canonical id: ParseRef(r.String()) == r.
func (r Ref) String() string {
	switch r.Kind {
	case KindHub:
		return "hf://" + r.Name + "@" + r.Revision
	case KindS3:
		if r.Name == "" {
			return "s3://" + r.Bucket
		}
		return "s3://" + r.Bucket + "/" + r.Name
	default:
		return r.Name
	}
}

// ParseRef parses an adapter id (see the package comment for the scheme).
func ParseRef(id string) (Ref, error) {
	if id == "" || len(id) > maxIDLen {
		return Ref{}, &badRefError{id: "", why: fmt.Sprintf("length %d not in 1..%d", len(id), maxIDLen)}
	}
	var (
		r   Ref
		err error
	)
	switch {
	case strings.HasPrefix(id, "hf://"):
		r, err = parseHub(strings.TrimPrefix(id, "hf://"))
	case strings.HasPrefix(id, "s3://"):
		r, err = parseS3(strings.TrimPrefix(id, "s3://"))
	case strings.Contains(id, "://") || strings.Contains(id, ":"):
		err = errors.New("unknown scheme (want a plain name, hf:// or s3://)")
	default:
		r, err = Ref{Kind: KindLocal, Name: id}, checkPath(id, 8)
	}
	if err != nil {
		return Ref{}, &badRefError{id: id, why: err.Error()}
	}
	return r, nil
}

func parseHub(s string) (Ref, error) {
	repo, rev, hasRev := strings.Cut(s, "@")
	if !hasRev {
		rev = DefaultRevision
	}
	if n := strings.Count(repo, "/"); n > 1 {
		return Ref{}, errors.New("hub repository must be name or org/name")
	}
	if err := checkPath(repo, 2); err != nil {
		return Ref{}, err
	}
	if err := checkPath(rev, 8); err != nil {
		return Ref{}, fmt.Errorf("revision: %v", err)
	}
	return Ref{Kind: KindHub, Name: repo, Revision: rev}, nil
}

func parseS3(s string) (Ref, error) {
	bucket, prefix, _ := strings.Cut(s, "/")
	if err := checkBucket(bucket); err != nil {
		return Ref{}, err
	}
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix != "" {
		if err := checkPath(prefix, 32); err != nil {
			return Ref{}, err
		}
	}
	return Ref{Kind: KindS3, Bucket: bucket, Name: prefix}, nil
}

// checkPath accepts 1..maxSegs slash-separated segments of [A-Za-z0-9._-], none
// of them "." or "..": such a path can neither escape a directory nor need escaping
// in a URL or an object key.
func checkPath(p string, maxSegs int) error {
	segs := strings.Split(p, "/")
	if len(segs) > maxSegs {
		return fmt.Errorf("more than %d path segments", maxSegs)
	}
	for _, s := range segs {
		if s == "" {
			return errors.New("empty path segment (leading, trailing or double slash)")
		}
		if s == "." || s == ".." {
			return fmt.Errorf("path segment %q not allowed", s)
		}
		if len(s) > 128 {
			return errors.New("path segment longer than 128 bytes")
		}
		for _, c := range []byte(s) {
			if !nameByte(c) {
				return fmt.Errorf("character %q not allowed (want A-Z a-z 0-9 . _ -)", c)
			}
		}
	}
	return nil
}

func nameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}

// checkBucket applies S3's bucket naming rules (3-63 of a-z 0-9 . -, starting
// and ending with a letter or digit).
func checkBucket(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket name %q must be 3-63 characters", b)
	}
	for i, c := range []byte(b) {
		ok := 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-'
		edge := i == 0 || i == len(b)-1
		if !ok || edge && (c == '.' || c == '-') {
			return fmt.Errorf("bucket name %q: character %q not allowed here", b, c)
		}
	}
	if strings.Contains(b, "..") {
		return fmt.Errorf("bucket name %q: \"..\" not allowed", b)
	}
	return nil
}
