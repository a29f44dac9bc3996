package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"

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
	Sequences int  // live sequences using it: running, waiting or ending
	Running   int  // sequences of it in the running batch
	Waiting   int  // sequences of it queued to start
	Merged    bool // merged from others for requests (MergedAdapters)
}

// ErrAdapterNotFound is returned for requests naming an adapter that is not loaded.
var ErrAdapterNotFound = errors.New("adapter not found")

// ErrAdapterBusy is returned when unloading an adapter that sequences still use.
var ErrAdapterBusy = errors.New("adapter in use")

type adapterEntry struct {
	id, dir  string
	src      string        // dir with symlinks resolved: what is read
	host     *lora.Adapter // nil once evicted from host memory
	loading  bool          // a goroutine is reading it back into host memory
	loadErr  error         // why the last read back failed
	rank     int
	digest   [32]byte // lora.Digest of the weights: the prefix cache's key
	modules  []string
	size     int64
	slot     int // -1 when not in a slot
	seqs     int
	lastUsed uint64
	draining bool
	idle     chan struct{} // closed when seqs drops to 0 while draining
	// merged marks an adapter merged from others for requests: it has no
	// directory, so leaving host memory forgets it (the next request merges again).
	merged bool
}

// adapterRegistry is guarded by Engine.mu.
type adapterRegistry struct {
	entries   map[string]*adapterEntry
	slotOwner []*adapterEntry
	clock     uint64
}

// LoadAdapter reads and checks a PEFT adapter directory and registers it as id.
// Loading the same id from the same directory again is a no-op. With
// Config.AdapterDirs set, a directory outside them is refused. The read happens
// on the caller's goroutine, never under the engine's lock.
func (e *Engine) LoadAdapter(id, dir string) (AdapterInfo, error) {
	if id == "" {
		return AdapterInfo{}, &RequestError{Param: paramAdapter, Msg: "adapter id is empty"}
	}
	if strings.HasPrefix(id, MergedPrefix) {
		return AdapterInfo{}, &RequestError{Param: paramAdapter, Msg: fmt.Sprintf("adapter ids starting %q name merged adapters", MergedPrefix)}
	}
	if e.slots == nil {
		return AdapterInfo{}, errors.New("engine: adapters are disabled (--max-active-adapters 0)")
	}
	src, err := e.allowedDir(dir)
	if err != nil {
		return AdapterInfo{}, err
	}
	e.mu.Lock()
	if old := e.reg.entries[id]; old != nil {
		defer e.mu.Unlock()
		if old.dir == dir && !old.draining {
			return old.info(), nil
		}
		return AdapterInfo{}, &RequestError{Param: paramAdapter, Msg: fmt.Sprintf("adapter %q is already loaded from another directory; unload it first", id)}
	}
	e.mu.Unlock()
	a, err := e.cfg.AdapterLoader(src, &e.m.Config, e.cfg.MaxLoRARank)
	if err != nil {
		return AdapterInfo{}, &RequestError{Param: paramPath, Msg: err.Error()}
	}
	e.adapterLoads.Add(1)
	digest := lora.Digest(a.Weights)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.reg.entries[id] != nil {
		return AdapterInfo{}, &RequestError{Param: paramAdapter, Msg: fmt.Sprintf("adapter %q was loaded concurrently", id)}
	}
	ent := &adapterEntry{id: id, dir: dir, src: src, host: a, rank: a.Rank, digest: digest,
		modules: a.Modules, size: a.SizeBytes, slot: -1}
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

// Adapters lists the registered adapters by id, with their running and
// waiting sequences.
func (e *Engine) Adapters() []AdapterInfo {
	counts := e.sched.AdapterSequences()
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]AdapterInfo, 0, len(e.reg.entries))
	for _, ent := range e.reg.entries {
		info := ent.info()
		c := counts[ent.id]
		info.Running, info.Waiting = c.Running, c.Waiting
		out = append(out, info)
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
	return AdapterInfo{ID: ent.id, Path: ent.dir, Tier: tier, Rank: ent.rank, Modules: ent.modules, SizeBytes: ent.size,
		Sequences: ent.seqs, Merged: ent.merged}
}

// acquireAdapter counts n new sequences on adapter id and returns its digest
// (zero for the base model). An adapter evicted from host memory starts
// reading back now, off the engine loop; the scheduler admits none of its
// requests until it is back.
func (e *Engine) acquireAdapter(id string, n int) ([32]byte, error) {
	if id == "" {
		return [32]byte{}, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	ent := e.reg.entries[id]
	if ent == nil || ent.draining {
		return [32]byte{}, &RequestError{Param: paramAdapter, Msg: fmt.Sprintf("adapter %q is not loaded", id), NotFound: true}
	}
	ent.seqs += n
	if ent.host == nil && !ent.loading {
		ent.loading, ent.loadErr = true, nil
		e.sched.PauseAdapter(id)
		go e.reload(ent)
	}
	return ent.digest, nil
}

// reload reads an evicted adapter back into host memory. A failure fails the
// adapter's queued requests when they reach a slot (slotFor), and the next new
// request tries again.
func (e *Engine) reload(ent *adapterEntry) {
	a, err := e.cfg.AdapterLoader(ent.src, &e.m.Config, e.cfg.MaxLoRARank)
	if err == nil {
		e.adapterLoads.Add(1)
	}
	if err == nil && lora.Digest(a.Weights) != ent.digest {
		// Requests keyed their cached prefixes on the weights first loaded.
		err = errors.New("its files changed since it was loaded; unload and load it again")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	ent.loading = false
	if err != nil {
		slog.Error("adapter reload failed", "adapter", ent.id, "err", err)
		ent.loadErr = err
	} else {
		ent.host = a
	}
	if e.reg.entries[ent.id] == ent {
		e.sched.ResumeAdapter(ent.id)
	}
	e.poke()
}

func (e *Engine) releaseAdapter(id string, n int) {
	if id == "" {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	ent := e.reg.entries[id]
	if ent == nil {
		return
	}
	if ent.seqs -= n; ent.seqs == 0 && ent.draining {
		close(ent.idle)
	}
}

// evictHostLocked drops host copies of the least recently used adapters that
// are not in a slot and have no sequences, beyond MaxCachedAdapters; they are
// read back when a request needs them. An adapter with sequences stays, so a
// request admitted to run always finds its adapter in memory.
func (e *Engine) evictHostLocked() {
	var cached []*adapterEntry
	for _, ent := range e.reg.entries {
		if ent.host != nil && ent.slot < 0 && ent.seqs == 0 {
			cached = append(cached, ent)
		}
	}
	if len(cached) <= e.cfg.MaxCachedAdapters {
		return
	}
	sort.Slice(cached, func(i, j int) bool { return cached[i].lastUsed < cached[j].lastUsed })
	for _, ent := range cached[:len(cached)-e.cfg.MaxCachedAdapters] {
		ent.host = nil
		if ent.merged {
			delete(e.reg.entries, ent.id)
		}
	}
}

// errOutsideDirs is LoadAdapter's one answer for a path it may not read, the
// same whether or not the path exists.
var errOutsideDirs = &RequestError{Param: paramPath, Msg: "adapter path is outside the directories this engine loads from"}

// allowedDir returns dir with symlinks resolved when Config.AdapterDirs allows
// it: both its cleaned path and its resolved one must lie inside one of them.
// A path inside that does not exist is left to the loader to report.
func (e *Engine) allowedDir(dir string) (string, error) {
	if e.cfg.AdapterDirs == nil {
		return dir, nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil || !within(abs, e.cfg.AdapterDirs) {
		return "", errOutsideDirs
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return abs, nil
	}
	if !within(real, e.cfg.AdapterDirs) {
		return "", errOutsideDirs
	}
	return real, nil
}

// within reports whether path is one of roots or below one, comparing with
// each root as given and with its symlinks resolved.
func within(path string, roots []string) bool {
	for _, root := range roots {
		abs, err := filepath.Abs(root)
		if err != nil {
			continue
		}
		cands := []string{abs}
		if real, err := filepath.EvalSymlinks(abs); err == nil && real != abs {
			cands = append(cands, real)
		}
		for _, r := range cands {
			rel, err := filepath.Rel(r, path)
			if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				return true
			}
		}
	}
	return false
}
