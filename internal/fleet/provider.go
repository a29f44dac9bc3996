package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/deploy/local"
	"github.com/graft-ai/graft/deploy/state"
)

// startPodProcesses runs the pods as the local provider's replicas ("graft
// serve" children), the code graft up runs them with. A client never shares
// a process with the pod it calls, so a pod in the bench's own process
// would make the direct path cheaper than any real client's: the request
// and its first byte would not wake another process.
func (f *Fleet) startPodProcesses(ctx context.Context, c FleetConfig, redisURL string, store *state.Store, spec deploy.Spec) error {
	prov, err := local.New(local.Config{Exe: c.PodExe, Redis: redisURL, Store: store,
		AdapterCache: filepath.Join(c.Dir, "adapter-cache"), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	f.stops = append(f.stops, prov.Close)
	for i := range c.Replicas {
		rs := deploy.ReplicaSpec{Deployment: c.Deployment, ID: fmt.Sprintf("r%d", i), Spec: spec}
		if err := prov.Start(ctx, rs); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		changed := prov.Watch()
		reps, live := prov.List(c.Deployment), 0
		for _, r := range reps {
			switch r.Phase {
			case deploy.PhaseLive:
				live++
			case deploy.PhaseFailed, deploy.PhaseExited:
				return fmt.Errorf("fleet: pod %s: %s", r.ID, r.Reason)
			}
		}
		if live == c.Replicas {
			for _, r := range reps {
				f.PodURLs = append(f.PodURLs, "http://"+r.Addr)
			}
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("fleet: %d of %d pods live within a minute", live, c.Replicas)
		}
	}
}
