package adaptersource

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Catalog resolves adapter ids through the cache: plain names under a local
// root (used in place), hf://org/name[@rev] from a Hub-compatible endpoint
// ($HF_ENDPOINT, $HF_TOKEN) and s3://bucket/prefix (AWS SDK settings,
// $GRAFT_S3_ENDPOINT for an S3-compatible server).
type Catalog struct {
	cache *Cache
	local *Local // nil without a root
	valid validity
}

// CacheDir is the cache directory OpenCatalog uses for dir: dir itself, or
// graft/adapters in the user cache dir when dir is empty.
func CacheDir(dir string) string {
	if dir != "" {
		return dir
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "graft", "adapters")
}

// OpenCatalog opens the cache in CacheDir(cacheDir) over the local root (may
// be empty) and the remote sources the environment names.
func OpenCatalog(ctx context.Context, cacheDir, root string) (*Catalog, error) {
	cacheDir = CacheDir(cacheDir)
	var src Sources
	if root != "" {
		l, err := NewLocal(root)
		if err != nil {
			return nil, fmt.Errorf("adapter root: %w", err)
		}
		src.Local = l
	}
	src.Hub = NewHubFromEnv()
	if s3, err := NewS3FromEnv(ctx, os.Getenv("GRAFT_S3_ENDPOINT")); err == nil {
		src.S3 = s3
	}
	cache, err := OpenCache(cacheDir, src)
	if err != nil {
		return nil, fmt.Errorf("adapter cache: %w", err)
	}
	return &Catalog{cache: cache, local: src.Local}, nil
}

// AddTuned serves the fine-tuned adapters under root (see Sources.Tuned);
// call it before the catalog is used.
func (c *Catalog) AddTuned(root string) error {
	l, err := NewLocal(root)
	if err != nil {
		return fmt.Errorf("fine-tuned adapter root: %w", err)
	}
	c.cache.src.Tuned = l
	return nil
}

// Resolve returns the local directory of adapter id, fetching it if needed.
// Errors are *Error (see Cache.Get).
func (c *Catalog) Resolve(ctx context.Context, id string) (string, error) {
	return c.cache.Get(ctx, id)
}

// List names the local adapters that pass Validate and those already fetched
// into the cache (validated when they were fetched), so /v1/models never
// offers an adapter that cannot load for a reason visible without the model.
func (c *Catalog) List(context.Context) ([]string, error) {
	var ids []string
	if c.local != nil {
		entries, err := os.ReadDir(c.local.root)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			ref, err := ParseRef(e.Name())
			if err != nil {
				continue
			}
			if dir, err := c.local.Dir(ref); err == nil && c.valid.ok(dir) {
				ids = append(ids, e.Name())
			}
		}
	}
	cached, err := c.cache.List()
	if err != nil {
		return nil, err
	}
	for _, e := range cached {
		ids = append(ids, e.Manifest.ID)
	}
	sort.Strings(ids)
	return ids, nil
}
