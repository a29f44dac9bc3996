package replica

import (
	"context"
	"slices"
	"time"

	"github.com/graft-ai/graft/deploy/state"
	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

// snapshot is what one poll learned from the engine.
type snapshot struct {
	taken            time.Time
	model            string
	running, waiting int
	kvUse            float64 // 0..1
	slotsUsed        int
	slotsTotal       int
	maxQueued        int
	prefixQueries    uint64 // the engine's prefix cache lookups, in tokens
	prefixHits       uint64
	adapterLoads     uint64   // adapters the engine read from their files
	slotLoads        uint64   // adapters the engine copied into a slot
	loaded           []string // every adapter the engine holds, sorted
	runningAdapters  []string // with sequences in the running batch
	waitingAdapters  []string // with sequences queued
}

func newSnapshot(st *enginev1.StatsResponse, la *enginev1.ListAdaptersResponse, model string, now time.Time) snapshot {
	s := snapshot{taken: now, model: model, running: int(st.RunningSequences), waiting: int(st.QueueDepth),
		kvUse: st.KvCacheUsage, slotsUsed: int(st.AdapterSlotsUsed), slotsTotal: int(st.AdapterSlotsTotal),
		maxQueued: int(st.MaxQueued), prefixQueries: st.PrefixCacheQueriesTotal, prefixHits: st.PrefixCacheHitsTotal,
		adapterLoads: st.AdapterLoadsTotal, slotLoads: st.AdapterSlotLoadsTotal}
	if s.model == "" {
		s.model = st.ModelId
	}
	if s.kvUse == 0 && st.KvBlocksTotal > 0 {
		// An engine that predates kv_cache_usage still reports blocks.
		s.kvUse = float64(st.KvBlocksUsed) / float64(st.KvBlocksTotal)
	}
	for _, a := range la.Adapters {
		if !a.Merged { // no request routes by a merged adapter's id
			s.loaded = append(s.loaded, a.AdapterId)
		}
		if a.RunningSequences > 0 {
			s.runningAdapters = append(s.runningAdapters, a.AdapterId)
		}
		if a.WaitingSequences > 0 {
			s.waitingAdapters = append(s.waitingAdapters, a.AdapterId)
		}
	}
	for _, ids := range [][]string{s.loaded, s.runningAdapters, s.waitingAdapters} {
		slices.Sort(ids)
	}
	return s
}

// poll reads the engine once and reports what it saw. An engine that does not
// answer takes its gauges off /metrics and is reported "unavailable" with the
// adapters it last had, since nothing says they were unloaded.
func (r *Reporter) poll(ctx context.Context) {
	snap, err := r.readEngine(ctx)
	ok := err == nil
	switch {
	case ok:
		if r.engineFails {
			r.cfg.Log.Info("engine answers again", "replica", r.cfg.ReplicaID)
		}
		r.loaded = snap.loaded
		r.collector.set(&snap)
	case ctx.Err() != nil: // stopping
		return
	default:
		if !r.engineFails {
			r.cfg.Log.Warn("engine does not answer; reporting it unavailable", "replica", r.cfg.ReplicaID, "err", err)
		}
		r.collector.set(nil)
	}
	r.engineFails = !ok
	if r.cfg.Store == nil || ctx.Err() != nil {
		return
	}
	rep := state.Replica{Deployment: r.cfg.Deployment, ID: r.cfg.ReplicaID, Addr: r.cfg.Addr,
		State: state.StateUnavailable, Updated: time.Now()}
	if ok {
		rep.State = state.StateReady
		rep.QueueDepth, rep.Running, rep.MaxQueued = snap.waiting, snap.running, snap.maxQueued
		rep.KVUse = snap.kvUse
		rep.AdapterSlotsUsed, rep.AdapterSlotsTotal = snap.slotsUsed, snap.slotsTotal
	}
	if r.draining.Load() {
		rep.State = state.StateDraining
	}
	if r.cfg.GPU != nil {
		rep.GPUMemUsedBytes, rep.GPUMemTotalBytes = r.cfg.GPU.Memory()
	}
	rep.Adapters = slices.Clone(r.loaded)
	r.hand(rep)
}

func (r *Reporter) readEngine(ctx context.Context) (snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	st, err := r.cfg.Engine.Stats(ctx, &enginev1.StatsRequest{})
	if err != nil {
		return snapshot{}, err
	}
	la, err := r.cfg.Engine.ListAdapters(ctx, &enginev1.ListAdaptersRequest{})
	if err != nil {
		return snapshot{}, err
	}
	model := ""
	if r.cfg.ModelName != nil {
		model = r.cfg.ModelName()
	}
	return newSnapshot(st, la, model, time.Now()), nil
}
