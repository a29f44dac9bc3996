package engine

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"slices"

	"github.com/graft-ai/graft/engine/lora"
)

// MergedAdapters asks for several loaded adapters combined into one for a
// request (LoRAX's merged adapters; PEFT's add_weighted_adapter). The merged
// adapter is computed once and kept like a loaded one, under an id derived
// from the adapters' contents and the spec, so equal requests share it, and
// its requests batch with any others.
type MergedAdapters struct {
	IDs  []string
	Spec lora.MergeSpec
}

// MaxMergedAdapters bounds the adapters one merge combines.
const MaxMergedAdapters = 16

// MergedPrefix starts the id of every merged adapter; LoadAdapter refuses it.
const MergedPrefix = "merged:"

const paramMerged = "merged_adapters"

func (m *MergedAdapters) validate(adapter string) error {
	switch {
	case adapter != "":
		return &RequestError{Param: paramAdapter, Msg: "set adapter_id or merged_adapters, not both"}
	case len(m.IDs) == 0:
		return &RequestError{Param: paramMerged + ".ids", Msg: "merged_adapters.ids must name at least one adapter"}
	case len(m.IDs) > MaxMergedAdapters:
		return &RequestError{Param: paramMerged + ".ids", Msg: fmt.Sprintf("merged_adapters.ids names %d adapters; at most %d can be merged", len(m.IDs), MaxMergedAdapters)}
	}
	for i, id := range m.IDs {
		if id == "" || slices.Contains(m.IDs[:i], id) {
			return &RequestError{Param: paramMerged + ".ids", Msg: fmt.Sprintf("merged_adapters.ids must be distinct, non-empty adapter ids; got %q", m.IDs)}
		}
	}
	if field, err := m.Spec.Check(len(m.IDs)); err != nil {
		return &RequestError{Param: paramMerged + "." + field, Msg: "merged_adapters." + err.Error()}
	}
	return nil
}

// mergedKey names a merge by its inputs: the adapters' contents (not their
// names, which a reload may reuse) and the spec.
func mergedKey(m *MergedAdapters, digests [][32]byte) string {
	h := sha256.New()
	var buf []byte
	for i, d := range digests {
		h.Write(d[:])
		buf = binary.LittleEndian.AppendUint64(buf[:0], math.Float64bits(m.Spec.Weights[i]))
		h.Write(buf)
	}
	buf = binary.LittleEndian.AppendUint64(buf[:0], math.Float64bits(m.Spec.Density))
	buf = binary.LittleEndian.AppendUint64(buf, m.Spec.Seed)
	buf = append(buf, m.Spec.Strategy+"/"+m.Spec.MajoritySign...)
	h.Write(buf)
	return MergedPrefix + hex.EncodeToString(h.Sum(nil)[:12])
}

// acquireMerged returns the merged adapter's id and digest, merging it first
// if no request did yet, and counts n sequences on it. The merge, and reading
// back components evicted from host memory, run on the caller's goroutine.
func (e *Engine) acquireMerged(m *MergedAdapters, n int) (string, [32]byte, error) {
	if e.slots == nil {
		return "", [32]byte{}, &RequestError{Param: paramMerged, Msg: "adapters are disabled on this engine (--max-active-adapters -1)"}
	}
	e.mu.Lock()
	comps := make([]*adapterEntry, len(m.IDs))
	digests := make([][32]byte, len(m.IDs))
	for i, id := range m.IDs {
		ent := e.reg.entries[id]
		if ent == nil || ent.draining {
			e.mu.Unlock()
			return "", [32]byte{}, &RequestError{Param: paramMerged + ".ids", Msg: fmt.Sprintf("adapter %q is not loaded", id), NotFound: true}
		}
		comps[i], digests[i] = ent, ent.digest
	}
	id := mergedKey(m, digests)
	if ent := e.takeLocked(id, n); ent != nil {
		e.mu.Unlock()
		return id, ent.digest, nil
	}
	hosts := make([]*lora.Adapter, len(comps))
	for i, c := range comps {
		hosts[i] = c.host
	}
	e.mu.Unlock()
	merged, err := e.merge(comps, hosts, m.Spec)
	if err != nil {
		return "", [32]byte{}, err
	}
	digest := lora.Digest(merged.Weights)
	e.mu.Lock()
	defer e.mu.Unlock()
	if ent := e.takeLocked(id, n); ent != nil { // merged meanwhile by another request
		return id, ent.digest, nil
	}
	ent := &adapterEntry{id: id, host: merged, rank: merged.Rank, digest: digest, modules: merged.Modules,
		size: merged.SizeBytes, slot: -1, seqs: n, merged: true}
	e.reg.clock++
	ent.lastUsed = e.reg.clock
	e.reg.entries[id] = ent
	e.evictHostLocked()
	return id, digest, nil
}

// takeLocked counts n sequences on the merged adapter id if it exists.
func (e *Engine) takeLocked(id string, n int) *adapterEntry {
	ent := e.reg.entries[id]
	if ent == nil || ent.draining {
		return nil
	}
	ent.seqs += n
	e.reg.clock++
	ent.lastUsed = e.reg.clock
	return ent
}

// merge reads back components no longer in host memory and merges.
func (e *Engine) merge(comps []*adapterEntry, hosts []*lora.Adapter, spec lora.MergeSpec) (*lora.Adapter, error) {
	for i, h := range hosts {
		if h != nil {
			continue
		}
		a, err := e.cfg.AdapterLoader(comps[i].src, &e.m.Config, e.cfg.MaxLoRARank)
		if err == nil && lora.Digest(a.Weights) != comps[i].digest {
			err = fmt.Errorf("its files changed since it was loaded")
		}
		if err != nil {
			return nil, &RequestError{Param: paramMerged + ".ids", Msg: fmt.Sprintf("adapter %q could not be read back: %v", comps[i].id, err)}
		}
		hosts[i] = a
	}
	merged, err := lora.Merge(hosts, spec)
	if err != nil {
		return nil, &RequestError{Param: paramMerged + ".ids", Msg: "the adapters cannot be merged: " + err.Error()}
	}
	return merged, nil
}
