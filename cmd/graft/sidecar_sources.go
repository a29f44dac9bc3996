package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"

	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
	"github.com/graft-ai/graft/sidecar/adaptersource"
	"github.com/graft-ai/graft/sidecar/openai"
	"github.com/graft-ai/graft/sidecar/residency"
)

// cachedSources resolves adapter ids through the adapter cache: plain names in
// --adapter-root (used in place), hf://org/name[@rev] from a Hub-compatible
// endpoint ($HF_ENDPOINT, $HF_TOKEN) and s3://bucket/prefix (AWS SDK settings,
// $GRAFT_S3_ENDPOINT for an S3-compatible server).
type cachedSources struct {
	cache *adaptersource.Cache
	local openai.LocalDir // for listing; "" root lists nothing
}

func newCachedSources(ctx context.Context, cacheDir, root string) (*cachedSources, error) {
	if cacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		cacheDir = filepath.Join(base, "graft", "adapters")
	}
	var src adaptersource.Sources
	if root != "" {
		l, err := adaptersource.NewLocal(root)
		if err != nil {
			return nil, fmt.Errorf("--adapter-root: %w", err)
		}
		src.Local = l
	}
	src.Hub = adaptersource.NewHubFromEnv()
	if s3, err := adaptersource.NewS3FromEnv(ctx, os.Getenv("GRAFT_S3_ENDPOINT")); err == nil {
		src.S3 = s3
	}
	cache, err := adaptersource.OpenCache(cacheDir, src)
	if err != nil {
		return nil, fmt.Errorf("--adapter-cache: %w", err)
	}
	return &cachedSources{cache: cache, local: openai.LocalDir{Root: root}}, nil
}

func (c *cachedSources) Resolve(ctx context.Context, id string) (string, error) {
	dir, err := c.cache.Get(ctx, id)
	if errors.Is(err, adaptersource.ErrNotFound) || errors.Is(err, adaptersource.ErrBadRef) {
		return "", fmt.Errorf("%w: %v", openai.ErrUnknownAdapter, err)
	}
	return dir, err
}

// List names the local adapters and those already fetched into the cache.
func (c *cachedSources) List(ctx context.Context) ([]string, error) {
	var ids []string
	if c.local.Root != "" {
		local, err := c.local.List(ctx)
		if err != nil {
			return nil, err
		}
		ids = append(ids, local...)
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

// startResidency publishes the replica's heartbeat and adapters to Redis until
// ctx ends. The engine's Stats feed the load fields.
func startResidency(ctx context.Context, url, deployment, replica, addr string, ttl time.Duration, ec enginev1.EngineClient) (*residency.Publisher, func(), error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, nil, usageError("--redis %q: %v", url, err)
	}
	client := redis.NewClient(opts)
	load := func() residency.Load {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		st, err := ec.Stats(sctx, &enginev1.StatsRequest{})
		if err != nil {
			return residency.Load{State: "unavailable"}
		}
		l := residency.Load{State: "ready", QueueDepth: int(st.QueueDepth), Running: int(st.RunningSequences),
			AdapterSlotsUsed: int(st.AdapterSlotsUsed), AdapterSlotsTotal: int(st.AdapterSlotsTotal)}
		if st.KvBlocksTotal > 0 {
			l.KVUsePct = 100 * float64(st.KvBlocksUsed) / float64(st.KvBlocksTotal)
		}
		return l
	}
	pub := residency.New(client, deployment, replica, addr, ttl, load)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = pub.Run(ctx)
	}()
	return pub, func() { <-done; client.Close() }, nil
}
