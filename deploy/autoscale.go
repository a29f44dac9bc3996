package deploy

import (
	"cmp"
	"context"
	"slices"
	"time"
)

// load is the running plus queued requests of each live replica, from the
// heartbeats they write to Redis; ok is false when they could not be read.
func (c *controller) load(ctx context.Context, live []Replica) (map[string]int, bool) {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	hbs, err := c.m.cfg.Store.Replicas(rctx, c.name)
	if err != nil {
		return nil, false
	}
	out := make(map[string]int, len(live))
	for _, r := range live {
		out[r.ID] = 0
	}
	for _, hb := range hbs {
		if _, ok := out[hb.ID]; ok {
			out[hb.ID] = hb.Running + hb.QueueDepth
		}
	}
	return out, true
}

// autoscale decides how many replicas the deployment wants and records it.
// Up: when the average load per live replica exceeds scale_up_threshold, to
// as many as the load needs (at most max_replicas). Down: one replica at a
// time, once the load has fitted on one replica fewer for the whole cooldown;
// the last one goes only when idle (and min_replicas is 0). Without heartbeats
// (Redis unreachable) it keeps the current number.
func (c *controller) autoscale(ctx context.Context, rec Record, v view) int {
	s := rec.Spec
	desired := min(max(rec.Desired, s.MinReplicas, 1), s.MaxReplicas)
	per, ok := c.load(ctx, v.live)
	if !ok {
		return desired
	}
	total := 0
	for _, n := range per {
		total += n
	}
	live := len(v.live)
	avg := float64(total) / float64(live)
	c.m.metrics.load.WithLabelValues(c.name).Set(avg)
	now := time.Now()
	next := desired
	switch {
	case avg > float64(s.ScaleUpThreshold):
		c.lowSince = time.Time{}
		need := (total + s.ScaleUpThreshold - 1) / s.ScaleUpThreshold
		next = max(desired, min(need, s.MaxReplicas))
	case total > s.ScaleUpThreshold*(live-1) || live > desired:
		// It needs every replica it has (or is already scaling down).
		c.lowSince = time.Time{}
	case c.lowSince.IsZero():
		c.lowSince = now
	case now.Sub(c.lowSince) >= time.Duration(s.Cooldown) && desired > s.MinReplicas:
		next = desired - 1
		c.lowSince = now // the next replica waits a whole cooldown again
	}
	if next != desired {
		dir := "up"
		if next < desired {
			dir = "down"
		}
		c.log.Info("autoscale", "direction", dir, "from", desired, "to", next, "load", total, "live", live,
			"avg", avg, "scale_up_threshold", s.ScaleUpThreshold, "cooldown", time.Duration(s.Cooldown))
		c.m.metrics.scale.WithLabelValues(c.name, dir).Inc()
	}
	if next != rec.Desired {
		c.setDesired(ctx, rec.Desired, next, "autoscale")
	}
	return next
}

// byLoad orders live replicas least busy first, the ones to remove first.
func (c *controller) byLoad(ctx context.Context, live []Replica) []Replica {
	per, _ := c.load(ctx, live)
	out := slices.Clone(live)
	slices.SortStableFunc(out, func(a, b Replica) int { return cmp.Compare(per[a.ID], per[b.ID]) })
	return out
}
