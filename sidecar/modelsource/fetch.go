package modelsource

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/graft-ai/graft/sidecar/adaptersource"
)

// fetch downloads ref at the listing's commit into a temp folder under the
// snapshot's lock, writes the manifest last and renames the folder into place.
func (c *Cache) fetch(ctx context.Context, ref Ref, info adaptersource.RepoInfo) (Model, error) {
	p, err := choose(ref, info.Files)
	if err != nil {
		return Model{}, fmt.Errorf("commit %s: %w", info.SHA, err)
	}
	key := c.snapshotKey(ref, info.SHA)
	unlock, err := c.lock(ctx, ref, key)
	if err != nil {
		return Model{}, err
	}
	defer unlock()
	if m, err := c.snapshot(ref, info.SHA); err == nil {
		return m, nil // another process fetched it while this one waited
	}
	tmpRoot := filepath.Join(c.repoDir(ref), "tmp")
	// Holding the lock, leftovers of this snapshot are a crashed download's.
	if old, _ := filepath.Glob(filepath.Join(tmpRoot, key+"-*")); len(old) > 0 {
		for _, d := range old {
			os.RemoveAll(d)
		}
	}
	if err := os.MkdirAll(tmpRoot, 0o755); err != nil {
		return Model{}, err
	}
	tmp, err := os.MkdirTemp(tmpRoot, key+"-")
	if err != nil {
		return Model{}, err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	start := time.Now()
	man, err := c.download(ctx, ref, info, p, tmp)
	if err != nil {
		return Model{}, err
	}
	if err := adaptersource.WriteSynced(tmp, manifestFile, man); err != nil {
		return Model{}, err
	}
	dir := c.snapshotDir(ref, info.SHA)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return Model{}, err
	}
	os.RemoveAll(dir) // an incomplete entry (no manifest); none is complete: checked under the lock
	if err := os.Rename(tmp, dir); err != nil {
		return Model{}, err
	}
	var size int64
	for _, f := range man.Files {
		size += f.Size
	}
	c.log().Info("base model fetched", "model", ref.String(), "commit", info.SHA, "files", len(man.Files),
		"bytes", size, "seconds", time.Since(start).Seconds(), "dir", dir)
	return c.snapshot(ref, info.SHA)
}

// download fetches the plan's files, then the index's shards, at the commit.
func (c *Cache) download(ctx context.Context, ref Ref, info adaptersource.RepoInfo, p plan, dst string) (manifest, error) {
	man := manifest{ID: ref.String(), Commit: info.SHA, GGUF: p.gguf}
	get := func(names []string) error {
		for _, n := range names {
			c.log().Info("fetching", "model", ref.String(), "file", n)
			f, _, err := c.Hub.FetchFile(ctx, ref.Repo, info.SHA, n, dst, MaxFileSize)
			if err != nil {
				return fmt.Errorf("%s: %w", n, err)
			}
			man.Files = append(man.Files, f)
		}
		return nil
	}
	if err := get(p.files); err != nil {
		return manifest{}, err
	}
	if p.index {
		names, err := shards(dst, info.Files)
		if err != nil {
			return manifest{}, err
		}
		if err := get(names); err != nil {
			return manifest{}, err
		}
	}
	man.Fetched = time.Now().UTC()
	return man, nil
}

// lock takes the snapshot's lock file, waiting for another process that holds
// it (downloading the same snapshot) until ctx ends.
func (c *Cache) lock(ctx context.Context, ref Ref, key string) (func(), error) {
	dir := filepath.Join(c.repoDir(ref), "locks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, key+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for logged := false; ; {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		if !logged {
			c.log().Info("another process is fetching this model; waiting", "model", ref.String(), "lock", f.Name())
			logged = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// DefaultDir is the model cache when none is given: the user cache folder's
// graft/models.
func DefaultDir() string {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "graft", "models")
}

// Open resolves model for loading: a local path is returned as it is; an
// hf:// id is fetched into cacheDir (DefaultDir when empty) from the Hub that
// HF_ENDPOINT names (with HF_TOKEN), or only read from the cache when
// HF_HUB_OFFLINE is set, as huggingface_hub reads them.
func Open(ctx context.Context, model, cacheDir string) (Model, error) {
	if !IsRemote(model) {
		return Model{Path: model}, nil
	}
	ref, err := ParseRef(model)
	if err != nil {
		return Model{}, err
	}
	if cacheDir == "" {
		cacheDir = DefaultDir()
	}
	c := &Cache{Dir: cacheDir, Hub: adaptersource.NewHubFromEnv(), Offline: offline()}
	return c.Get(ctx, ref)
}

// IsInputError says whether err is the model id's fault rather than the
// network's or this machine's: a bad id, a repository or revision the Hub does
// not have or refuses, or one without loadable weights.
func IsInputError(err error) bool {
	var bad *badRefError
	return errors.As(err, &bad) || errors.Is(err, adaptersource.ErrNotFound) ||
		errors.Is(err, adaptersource.ErrAuth) || errors.Is(err, ErrNoWeights)
}

func offline() bool {
	switch strings.ToLower(os.Getenv("HF_HUB_OFFLINE")) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}
