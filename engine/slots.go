package engine

import (
	"fmt"
	"slices"

	"github.com/graft-ai/graft/engine/scheduler"
)

// slotFor returns the slot of adapter id, moving it into one if needed. The
// victim is the least recently used slot whose adapter no running request uses
// (the scheduler keeps at most as many adapters active as there are slots).
// Runs on the engine loop, so it never reads a disk: the scheduler admits an
// adapter's requests only once its weights are in host memory (acquireAdapter).
func (e *Engine) slotFor(id string, active []string) (int32, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ent := e.reg.entries[id]
	if ent == nil {
		return -1, fmt.Errorf("adapter %q was unloaded", id)
	}
	e.reg.clock++
	ent.lastUsed = e.reg.clock
	if ent.slot >= 0 {
		return int32(ent.slot), nil
	}
	victim := -1
	for i, owner := range e.reg.slotOwner {
		if owner == nil {
			victim = i
			break
		}
		if _, inUse := slices.BinarySearch(active, owner.id); inUse {
			continue
		}
		if victim < 0 || owner.lastUsed < e.reg.slotOwner[victim].lastUsed {
			victim = i
		}
	}
	if victim < 0 {
		return -1, fmt.Errorf("no free adapter slot for %q (all %d in use)", id, len(e.reg.slotOwner))
	}
	if ent.host == nil {
		if ent.loadErr != nil {
			return -1, fmt.Errorf("adapter %q could not be read back: %w", id, ent.loadErr)
		}
		return -1, fmt.Errorf("adapter %q is not in memory", id)
	}
	if err := e.slots.Set(victim, ent.host.Weights); err != nil {
		return -1, err
	}
	if old := e.reg.slotOwner[victim]; old != nil {
		old.slot = -1
	}
	e.reg.slotOwner[victim], ent.slot = ent, victim
	e.adapterSlotLoads.Add(1)
	e.evictHostLocked()
	return int32(victim), nil
}

// adapterSlots fills the batch's per-token slots for the planned sequences and
// marks sequences whose adapter cannot be placed as failed.
func (e *Engine) adapterSlots(out *scheduler.Output, seqs []*sequence) {
	b := &e.batch
	buf := e.adapterBuf[:0]
	used := false
	for i, sc := range out.Scheduled {
		slot := int32(-1)
		if s := seqs[i]; s != nil && sc.Adapter != "" {
			var err error
			if slot, err = e.slotFor(sc.Adapter, out.ActiveAdapters); err != nil {
				s.finish, s.err = FinishError, err
			}
			used = used || slot >= 0
		}
		if seqs[i] == nil {
			continue
		}
		for range sc.NumNew {
			buf = append(buf, slot)
		}
	}
	e.adapterBuf, b.Adapters = buf, nil
	if used {
		b.Adapters = buf
	}
}
