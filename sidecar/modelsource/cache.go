package modelsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/graft-ai/graft/sidecar/adaptersource"
)

// Hub is what the cache needs of a Hub client (adaptersource.Hub).
type Hub interface {
	RepoInfo(ctx context.Context, repo, rev string) (adaptersource.RepoInfo, error)
	FetchFile(ctx context.Context, repo, rev, name, dst string, limit int64) (adaptersource.File, string, error)
}

var _ Hub = (*adaptersource.Hub)(nil)

// MaxFileSize bounds one downloaded file: a broken or hostile server cannot
// fill the disk past it. The largest single-file GGUF models stay below it.
const MaxFileSize int64 = 512 << 30

// Cache keeps base models fetched from a Hub in Dir (see the package comment).
type Cache struct {
	Dir string
	Hub Hub
	// Offline never asks the Hub (HF_HUB_OFFLINE): only cached models load.
	Offline bool
	Log     *slog.Logger
}

// Model is a base model ready to load.
type Model struct {
	Ref    Ref
	Commit string
	Path   string // the snapshot folder, or the .gguf file in it
}

const manifestFile = "graft-manifest.json"

// manifest is written last into a snapshot; its presence marks it complete.
type manifest struct {
	ID      string               `json:"id"`
	Commit  string               `json:"commit"`
	GGUF    string               `json:"gguf,omitempty"`
	Files   []adaptersource.File `json:"files"`
	Fetched time.Time            `json:"fetched"`
}

// Get returns the model ref names, downloading it on first use. Errors name
// the model and, for a download, the file; those of the Hub wrap
// adaptersource.ErrNotFound, ErrAuth or ErrCorrupt, and a repository without
// loadable weights ErrNoWeights.
func (c *Cache) Get(ctx context.Context, ref Ref) (Model, error) {
	m, err := c.get(ctx, ref)
	if err != nil {
		return Model{}, fmt.Errorf("base model %s: %w", ref, err)
	}
	return m, nil
}

func (c *Cache) get(ctx context.Context, ref Ref) (Model, error) {
	if c.Offline {
		m, err := c.cached(ref)
		if err != nil {
			return Model{}, fmt.Errorf("offline (HF_HUB_OFFLINE) and not in the cache %s: %w", c.Dir, err)
		}
		return m, nil
	}
	if isCommit(ref.Revision) {
		if m, err := c.snapshot(ref, ref.Revision); err == nil {
			c.log().Info("base model cached", "model", ref.String(), "path", m.Path)
			return m, nil // a commit never moves: no need to ask
		}
	}
	info, err := c.Hub.RepoInfo(ctx, ref.Repo, ref.Revision)
	if err != nil {
		return c.unreachable(ref, err)
	}
	if !isCommit(info.SHA) {
		return Model{}, fmt.Errorf("the Hub's listing names no commit (sha %q)", info.SHA)
	}
	m, err := c.snapshot(ref, info.SHA)
	if err == nil {
		c.log().Info("base model cached", "model", ref.String(), "commit", info.SHA, "path", m.Path)
	} else if m, err = c.fetch(ctx, ref, info); err != nil {
		return Model{}, err
	}
	if err := c.writeRef(ref, info.SHA); err != nil {
		c.log().Warn("could not record the revision's commit", "model", ref.String(), "err", err)
	}
	return m, nil
}

// unreachable falls back to the cache when the Hub could not be asked at all;
// an answer that the model is missing or forbidden is final.
func (c *Cache) unreachable(ref Ref, err error) (Model, error) {
	if errors.Is(err, adaptersource.ErrNotFound) || errors.Is(err, adaptersource.ErrAuth) || errors.Is(err, context.Canceled) {
		return Model{}, err
	}
	m, cerr := c.cached(ref)
	if cerr != nil {
		return Model{}, fmt.Errorf("%w (and not in the cache: %v)", err, cerr)
	}
	c.log().Warn("the Hub could not be reached; loading the cached commit", "model", ref.String(), "commit", m.Commit, "err", err)
	return m, nil
}

// cached finds ref in the cache without the network: the commit itself, or the
// one the revision last resolved to.
func (c *Cache) cached(ref Ref) (Model, error) {
	commit := ref.Revision
	if !isCommit(commit) {
		b, err := os.ReadFile(c.refFile(ref))
		if err != nil {
			return Model{}, fmt.Errorf("revision %q was never fetched", ref.Revision)
		}
		commit = strings.TrimSpace(string(b))
	}
	return c.snapshot(ref, commit)
}

// snapshot returns the complete cached snapshot of ref at commit.
func (c *Cache) snapshot(ref Ref, commit string) (Model, error) {
	dir := c.snapshotDir(ref, commit)
	b, err := os.ReadFile(filepath.Join(dir, manifestFile))
	if err != nil {
		return Model{}, fmt.Errorf("commit %s is not cached", commit)
	}
	var man manifest
	if err := json.Unmarshal(b, &man); err != nil {
		return Model{}, fmt.Errorf("snapshot %s: %s: %w", dir, manifestFile, err)
	}
	m := Model{Ref: ref, Commit: commit, Path: dir}
	if man.GGUF != "" {
		m.Path = filepath.Join(dir, filepath.FromSlash(man.GGUF))
	}
	return m, nil
}

func (c *Cache) repoDir(ref Ref) string {
	return filepath.Join(c.Dir, strings.ReplaceAll(ref.Repo, "/", "--"))
}

func (c *Cache) snapshotKey(ref Ref, commit string) string {
	if ref.File == "" {
		return commit
	}
	return commit + "--" + strings.ReplaceAll(ref.File, "/", "--")
}

func (c *Cache) snapshotDir(ref Ref, commit string) string {
	return filepath.Join(c.repoDir(ref), "snapshots", c.snapshotKey(ref, commit))
}

func (c *Cache) refFile(ref Ref) string {
	// Revisions such as refs/pr/1 become one file name.
	return filepath.Join(c.repoDir(ref), "refs", strings.ReplaceAll(ref.Revision, "/", "--"))
}

// writeRef records the commit ref's revision resolved to, atomically.
func (c *Cache) writeRef(ref Ref, commit string) error {
	if ref.Revision == commit {
		return nil
	}
	p := c.refFile(ref)
	if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == commit {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".ref-")
	if err != nil {
		return err
	}
	_, err = f.WriteString(commit + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

func (c *Cache) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.Default()
}
