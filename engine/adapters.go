package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/graft-ai/graft/engine/lora"
)

// AdapterTier is where an adapter's weights are.
type AdapterTier string

const (
	TierActive AdapterTier = "active" // in a slot: its requests run now
	TierHost   AdapterTier = "host"   // parsed in host memory
	TierDisk   AdapterTier = "disk"   // known by path only
)

// AdapterInfo describes one registered adapter.
type AdapterInfo struct {
	ID        string
	Path      string
	Tier      AdapterTier
	Rank      int
	Modules   []string
	SizeBytes int64
	Sequences int // live (waiting or running) sequences using it
}

// ErrAdapterNotFound is returned for requests naming an adapter that is not loaded.
var ErrAdapterNotFound = errors.New("adapter not found")

// ErrAdapterBusy is returned when unloading an adapter that sequences still use.
var ErrAdapterBusy = errors.New("adapter in use")

type adapterEntry struct {
	id, dir  string
	host     *lora.Adapter // nil once evicted from host memory
	rank     int
	modules  []string
	size     int64
	slot     int // -1 when not in a slot
	seqs     int
	lastUsed uint64
	draining bool
	idle     chan struct{} // closed when seqs drops to 0 while draining
}

// adapterRegistry is guarded by Engine.mu.
type adapterRegistry struct {
	entries   map[string]*adapterEntry
	slotOwner []*adapterEntry
	clock     uint64
}

// LoadAdapter reads and checks a PEFT adapter directory and registers it as id.
// Loading the same id from the same directory again is a no-op.
func (e *Engine) LoadAdapter(id, dir string) (AdapterInfo, error) {
	if id == "" {
		return AdapterInfo{}, &RequestError{Param: "adapter_id", Msg: "adapter id is empty"}
	}
	if e.slots == nil {
		return AdapterInfo{}, errors.New("engine: adapters are disabled (--max-active-adapters 0)")
	}
	e.mu.Lock()
	if old := e.reg.entries[id]; old != nil {
		defer e.mu.Unlock()
		if old.dir == dir && !old.draining {
			return old.info(), nil
		}
		return AdapterInfo{}, &RequestError{Param: "adapter_id", Msg: fmt.Sprintf("adapter %q is already loaded from %s; unload it first", id, old.dir)}
	}
	e.mu.Unlock()
	a, err := lora.Load(dir, &e.m.Config, e.cfg.MaxLoRARank)
	if err != nil {
		return AdapterInfo{}, &RequestError{Param: "adapter", Msg: err.Error()}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.reg.entries[id] != nil {
		return AdapterInfo{}, &RequestError{Param: "adapter_id", Msg: fmt.Sprintf("adapter %q was loaded concurrently", id)}
	}
	ent := &adapterEntry{id: id, dir: dir, host: a, rank: a.Rank, modules: a.Modules, size: a.SizeBytes, slot: -1}
	e.reg.clock++
	ent.lastUsed = e.reg.clock
	e.reg.entries[id] = ent
	e.evictHostLocked()
	return ent.info(), nil
}

// UnloadAdapter forgets an adapter. With sequences still using it, it fails with
// ErrAdapterBusy, or with wait set it refuses new requests for the adapter and
// returns once the running ones finish (or ctx ends).
func (e *Engine) UnloadAdapter(ctx context.Context, id string, wait bool) error {
	e.mu.Lock()
	ent := e.reg.entries[id]
	if ent == nil {
		e.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrAdapterNotFound, id)
	}
	if ent.seqs > 0 {
		if !wait {
			e.mu.Unlock()
			return fmt.Errorf("%w: %q has %d running or waiting sequences", ErrAdapterBusy, id, ent.seqs)
		}
		if !ent.draining {
			ent.draining, ent.idle = true, make(chan struct{})
		}
		idle := ent.idle
		e.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
		e.mu.Lock()
	}
	defer e.mu.Unlock()
	if e.reg.entries[id] != ent {
		return nil // unloaded meanwhile by another caller
	}
	delete(e.reg.entries, id)
	if ent.slot >= 0 {
		e.reg.slotOwner[ent.slot] = nil
		e.slots.Clear(ent.slot)
	}
	return nil
}

// Adapters lists the registered adapters by id.
func (e *Engine) Adapters() []AdapterInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]AdapterInfo, 0, len(e.reg.entries))
	for _, ent := range e.reg.entries {
		out = append(out, ent.info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (ent *adapterEntry) info() AdapterInfo {
	tier := TierDisk
	switch {
	case ent.slot >= 0:
		tier = TierActive
	case ent.host != nil:
		tier = TierHost
	}
	return AdapterInfo{ID: ent.id, Path: ent.dir, Tier: tier, Rank: ent.rank, Modules: ent.modules, SizeBytes: ent.size, Sequences: ent.seqs}
}

// acquireAdapter counts a new sequence on adapter id.
func (e *Engine) acquireAdapter(id string) error {
	if id == "" {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	ent := e.reg.entries[id]
	if ent == nil || ent.draining {
		return &RequestError{Param: "model", Msg: fmt.Sprintf("adapter %q is not loaded", id), NotFound: true}
	}
	ent.seqs++
	return nil
}

func (e *Engine) releaseAdapter(id string) {
	if id == "" {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	ent := e.reg.entries[id]
	if ent == nil {
		return
	}
	if ent.seqs--; ent.seqs == 0 && ent.draining {
		close(ent.idle)
	}
}

// evictHostLocked drops host copies of the least recently used adapters that
// are not in a slot, beyond MaxCachedAdapters; they reload from disk on use.
func (e *Engine) evictHostLocked() {
	var cached []*adapterEntry
	for _, ent := range e.reg.entries {
		if ent.host != nil && ent.slot < 0 {
			cached = append(cached, ent)
		}
	}
	if len(cached) <= e.cfg.MaxCachedAdapters {
		return
	}
	sort.Slice(cached, func(i, j int) bool { return cached[i].lastUsed < cached[j].lastUsed })
	for _, ent := range cached[:len(cached)-e.cfg.MaxCachedAdapters] {
		ent.host = nil
	}
}
