package adaptersource

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"
)

// Sources are the places a Cache fetches from; a nil one refuses its ids.
type Sources struct {
	Local *Local // plain names, used in place
	// Tuned holds the adapters fine-tuned on this deployment: ids
	// "ft/TENANT/NAME" resolve to Tuned's TENANT/NAME, used in place.
	Tuned *Local
	Hub   Source // hf:// ids
	S3    Source // s3:// ids
}

// Cache keeps fetched adapters in a directory:
//
//	dir/adapters/<key>/          one per adapter, key = sha256(canonical id)[:16] hex
//	    adapter_config.json
//	    adapter_model.safetensors
//	    graft-manifest.json      written last; an entry without it is incomplete
//	dir/tmp/                     downloads in progress; emptied by OpenCache
//
// It is safe for concurrent use, and by several Cache values over one directory
// in one process; two processes may share it too, as entries only ever appear by
// an atomic rename.
type Cache struct {
	dir          string
	src          Sources
	group        singleflight.Group
	FetchTimeout time.Duration // bounds one fetch, shared by all its waiters
}

const manifestFile = "graft-manifest.json"

// DefaultFetchTimeout bounds a fetch whose waiters have all gone away.
const DefaultFetchTimeout = 30 * time.Minute

// OpenCache opens (creating if needed) a cache directory and removes the
// leftovers of downloads that a crash interrupted.
func OpenCache(dir string, src Sources) (*Cache, error) {
	c := &Cache{dir: dir, src: src, FetchTimeout: DefaultFetchTimeout}
	if err := os.RemoveAll(c.tmpDir()); err != nil {
		return nil, fmt.Errorf("clean stale downloads: %w", err)
	}
	for _, d := range []string{c.tmpDir(), c.entriesDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *Cache) tmpDir() string     { return filepath.Join(c.dir, "tmp") }
func (c *Cache) entriesDir() string { return filepath.Join(c.dir, "adapters") }

func (c *Cache) entryDir(ref Ref) string {
	sum := sha256.Sum256([]byte(ref.String()))
	return filepath.Join(c.entriesDir(), hex.EncodeToString(sum[:16]))
}

// Get returns the local directory of the adapter with this id, fetching and
// validating it on first use. Concurrent Gets of one id share a single fetch;
// a caller whose ctx ends stops waiting, but the fetch goes on for the others
// (up to FetchTimeout). Errors are *Error, whose Reason is ErrBadRef,
// ErrNotFound, ErrAuth, ErrInvalid, ErrCorrupt, ErrUnavailable or ErrTimeout
// (nil for a fault of this server) and whose message is safe to show a client.
//
// An entry is never refreshed: an id naming a branch (hf://org/name, which is
// @main) stays at the commit first fetched, recorded in its Manifest. Pin a
// commit in the id, or Remove the entry, to move it.
func (c *Cache) Get(ctx context.Context, id string) (string, error) {
	dir, err := c.get(ctx, id)
	if err != nil {
		return "", describe(id, err)
	}
	return dir, nil
}

func (c *Cache) get(ctx context.Context, id string) (string, error) {
	ref, err := ParseRef(id)
	if err != nil {
		return "", err
	}
	if ref.Kind == KindLocal {
		return c.local(ref)
	}
	dir := c.entryDir(ref)
	if _, err := readManifest(dir); err == nil {
		return dir, nil
	}
	ch := c.group.DoChan(dir, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.FetchTimeout)
		defer cancel()
		return dir, c.fetch(fctx, ref, dir)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return "", res.Err
		}
		return dir, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// TunedPrefix starts the ids of fine-tuned adapters (see Sources.Tuned).
const TunedPrefix = "ft/"

func (c *Cache) local(ref Ref) (string, error) {
	if rest, ok := strings.CutPrefix(ref.Name, TunedPrefix); ok && c.src.Tuned != nil {
		dir, err := c.src.Tuned.Dir(Ref{Kind: KindLocal, Name: rest})
		if err != nil {
			return "", err
		}
		if _, err := Validate(dir); err != nil {
			return "", err
		}
		return dir, nil
	}
	if c.src.Local == nil {
		return "", &Error{Reason: ErrNotFound, Msg: "there is no adapter by that name", Cause: errors.New("no local adapter root is configured")}
	}
	dir, err := c.src.Local.Dir(ref)
	if err != nil {
		return "", err
	}
	if _, err := Validate(dir); err != nil {
		return "", err
	}
	return dir, nil
}

func (c *Cache) source(k Kind) (Source, error) {
	var s Source
	switch k {
	case KindHub:
		s = c.src.Hub
	case KindS3:
		s = c.src.S3
	}
	if s == nil {
		return nil, &Error{Reason: ErrNotFound, Msg: fmt.Sprintf("this server fetches no adapters from %s://", k), Cause: fmt.Errorf("no %s source configured", k)}
	}
	return s, nil
}

// fetch downloads into a fresh temp dir, validates, writes the manifest last and
// renames the whole directory into place.
func (c *Cache) fetch(ctx context.Context, ref Ref, dir string) error {
	if _, err := readManifest(dir); err == nil {
		return nil // another Cache over this directory got there first
	}
	src, err := c.source(ref.Kind)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(c.tmpDir(), "fetch-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	m, err := src.Fetch(ctx, ref, tmp)
	if err != nil {
		return err
	}
	if _, err := Validate(tmp); err != nil {
		return fmt.Errorf("%s: %w", ref, err)
	}
	if err := writeManifest(tmp, m); err != nil {
		return err
	}
	return c.install(tmp, dir)
}

// install renames a complete temp dir into place, replacing an incomplete
// entry (one without a manifest) if there is one.
func (c *Cache) install(tmp, dir string) error {
	err := os.Rename(tmp, dir)
	if err != nil && (errors.Is(err, os.ErrExist) || isNotEmpty(err)) {
		if _, merr := readManifest(dir); merr == nil {
			return nil
		}
		if err := c.discard(dir); err != nil {
			return err
		}
		err = os.Rename(tmp, dir)
	}
	if err != nil {
		return err
	}
	return syncDir(c.entriesDir())
}

// discard moves an entry out of sight atomically, then deletes it.
func (c *Cache) discard(dir string) error {
	trash, err := os.MkdirTemp(c.tmpDir(), "remove-")
	if err != nil {
		return err
	}
	gone := filepath.Join(trash, "entry")
	if err := os.Rename(dir, gone); err != nil && !os.IsNotExist(err) {
		os.RemoveAll(trash)
		return err
	}
	return os.RemoveAll(trash)
}

// Entry is one cached adapter.
type Entry struct {
	Dir      string
	Manifest Manifest
}

// List returns the complete cached adapters, sorted by id. Local adapters are
// not cached and not listed.
func (c *Cache) List() ([]Entry, error) {
	des, err := os.ReadDir(c.entriesDir())
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, de := range des {
		dir := filepath.Join(c.entriesDir(), de.Name())
		if m, err := readManifest(dir); err == nil {
			out = append(out, Entry{Dir: dir, Manifest: m})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Manifest.ID < out[j].Manifest.ID })
	return out, nil
}

// Remove deletes a cached adapter; removing one that is not cached is not an
// error. Local adapters are never removed. A directory already handed out by
// Get stays readable by whoever holds its files open.
func (c *Cache) Remove(id string) error {
	ref, err := ParseRef(id)
	if err != nil {
		return err
	}
	if ref.Kind == KindLocal {
		return nil
	}
	return c.discard(c.entryDir(ref))
}

// Manifest returns the manifest of a cached adapter.
func (c *Cache) Manifest(id string) (Manifest, error) {
	ref, err := ParseRef(id)
	if err != nil {
		return Manifest{}, err
	}
	return readManifest(c.entryDir(ref))
}
