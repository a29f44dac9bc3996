package scheduler

import (
	"sort"
	"time"
)

// adapterSet tracks the LoRA adapters that running requests use. Each needs an
// adapter slot in the runner, so at most Config.MaxActiveAdapters may be active.
//
// Fairness follows LoRAX's adapter exchange: while requests for an inactive
// adapter wait for a slot, an adapter active for longer than AdapterCycle
// admits no new requests; it drains, leaves the set, and frees its slot for the
// oldest waiting adapter. A waiting adapter therefore waits at most about one
// cycle plus the time its predecessor's running requests take to finish.
type adapterSet struct {
	max    int
	cycle  time.Duration
	active map[string]*activeAdapter
	names  []string // reused for Output.ActiveAdapters
	// paused adapters admit no request: the runner cannot run them yet.
	paused map[string]bool
}

type activeAdapter struct {
	since   time.Time
	running int
}

func newAdapterSet(max int, cycle time.Duration) *adapterSet {
	return &adapterSet{max: max, cycle: cycle, active: map[string]*activeAdapter{}, paused: map[string]bool{}}
}

func (a *adapterSet) join(name string, now time.Time) {
	if name == "" {
		return
	}
	e := a.active[name]
	if e == nil {
		e = &activeAdapter{since: now}
		a.active[name] = e
	}
	e.running++
}

func (a *adapterSet) leave(name string) {
	if e := a.active[name]; e != nil {
		if e.running--; e.running <= 0 {
			delete(a.active, name)
		}
	}
}

// admission decides per step which waiting requests' adapters may start.
type admission struct {
	set      *adapterSet
	now      time.Time
	starving bool // some waiting request's adapter has no slot and none is free
}

func (a *adapterSet) admission(waiting []*Request, now time.Time) admission {
	ad := admission{set: a, now: now}
	if a.max <= 0 || len(a.active) < a.max {
		return ad
	}
	for _, r := range waiting {
		if _, ok := a.active[r.Adapter]; r.Adapter != "" && !ok && !a.paused[r.Adapter] {
			ad.starving = true
			break
		}
	}
	return ad
}

// allows reports whether r may be admitted now.
func (ad *admission) allows(r *Request) bool {
	a := ad.set
	if r.Adapter == "" {
		return true
	}
	if a.paused[r.Adapter] {
		return false
	}
	if a.max <= 0 {
		return true
	}
	if e, ok := a.active[r.Adapter]; ok {
		return !(ad.starving && ad.now.Sub(e.since) >= a.cycle)
	}
	return len(a.active) < a.max
}

// sorted returns the active adapters' names in order.
func (a *adapterSet) sorted() []string {
	a.names = a.names[:0]
	for n := range a.active {
		a.names = append(a.names, n)
	}
	sort.Strings(a.names)
	return a.names
}
