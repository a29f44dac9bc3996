package replica

import (
	"context"
	"slices"

	"github.com/graft-ai/graft/deploy/state"
)

// report writes the replica's hash and residency set and announces what
// changed since the last announcement. A failure leaves the last announcement
// in place so the next poll announces again; readers also resync, so a lost
// message only delays them.
func (r *Reporter) report(ctx context.Context, rep state.Replica) {
	wctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	err := r.write(wctx, rep)
	switch {
	case err == nil && r.redisFails:
		r.cfg.Log.Info("replica state written to Redis again", "replica", rep.ID)
		r.redisFails = false
	case err == nil, ctx.Err() != nil: // stopping: cleanup follows
	default:
		// Whatever part was written, announce replica.up again next time.
		r.announced.ok = false
		if !r.redisFails {
			r.cfg.Log.Warn("replica state not written to Redis; retrying every poll", "replica", rep.ID, "err", err)
		}
		r.redisFails = true
	}
}

func (r *Reporter) write(ctx context.Context, rep state.Replica) error {
	st := r.cfg.Store
	created, err := st.PutReplica(ctx, rep, r.cfg.TTL)
	if err != nil {
		return err
	}
	if err := st.SetResidency(ctx, rep.Deployment, rep.ID, rep.Adapters, r.cfg.TTL); err != nil {
		return err
	}
	var changes []state.Change
	switch {
	case created || !r.announced.ok:
		changes = append(changes, r.change(state.KindReplicaUp, ""))
	case rep.State != r.announced.state:
		changes = append(changes, r.change(state.KindReplicaState, ""))
	}
	for _, id := range rep.Adapters {
		if !slices.Contains(r.announced.adapters, id) {
			changes = append(changes, r.change(state.KindAdapterLoaded, id))
		}
	}
	for _, id := range r.announced.adapters {
		if !slices.Contains(rep.Adapters, id) {
			changes = append(changes, r.change(state.KindAdapterUnloaded, id))
		}
	}
	for _, c := range changes {
		if err := st.Publish(ctx, c); err != nil {
			return err
		}
	}
	r.announced = announced{ok: true, state: rep.State, adapters: slices.Clone(rep.Adapters)}
	return nil
}
