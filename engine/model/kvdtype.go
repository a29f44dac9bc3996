package model

import (
	"fmt"

	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/gguf"
)

// KV cache element types, as --kv-cache-dtype names them. KVAuto picks float32
// when every weight matrix is float32 (the cache then adds no rounding to an
// exact model) and IEEE half otherwise, as llama.cpp (F16 by default) and
// vLLM (auto: the model's dtype) do.
const (
	KVAuto = "auto"
	KVF32  = "f32"
	KVF16  = "f16"
)

// halfKVBackend is a backend that can keep the KV cache in IEEE halves.
type halfKVBackend interface {
	NewKVCacheF16(layers, blocks, blockSize, kvHeads, headDim int) compute.KVCache
}

// KVCacheDtype resolves a requested cache type ("" means auto) to KVF32 or
// KVF16 for this model and backend. Auto falls back to float32 on a backend
// without half caches; an explicit f16 there, or an unknown name, is an error.
func (m *Model) KVCacheDtype(want string) (string, error) {
	_, half := m.b.(halfKVBackend)
	switch want {
	case KVF32:
		return KVF32, nil
	case KVF16:
		if !half {
			return "", fmt.Errorf("kv cache dtype f16: the %T backend has no half-precision KV cache (use f32 or auto)", m.b)
		}
		return KVF16, nil
	case "", KVAuto:
		if half && !m.allF32() {
			return KVF16, nil
		}
		return KVF32, nil
	}
	return "", fmt.Errorf("kv cache dtype %q is not supported (want auto, f32 or f16)", want)
}

// KVElemBytes is the size of one cached key or value element of a resolved
// cache type.
func KVElemBytes(dtype string) int {
	if dtype == KVF16 {
		return 2
	}
	return 4
}

// NewKVCacheOf allocates a paged cache whose elements are of a resolved type
// (KVCacheDtype's answer).
func (m *Model) NewKVCacheOf(dtype string, blocks, blockSize int) compute.KVCache {
	if dtype != KVF16 {
		return m.NewKVCache(blocks, blockSize)
	}
	c := &m.Config
	return m.b.(halfKVBackend).NewKVCacheF16(c.Layers, blocks, blockSize, c.KVHeads, c.HeadDim)
}

// allF32 reports whether every weight matrix is kept in float32; matrices
// that do not say how they are stored are.
func (m *Model) allF32() bool {
	ms := []compute.Matrix{m.Embed, m.Output}
	for _, l := range m.Layers {
		for _, p := range []*Linear{l.Q, l.K, l.V, l.O, l.Gate, l.Up, l.Down} {
			ms = append(ms, p.W)
		}
	}
	for _, w := range ms {
		if s, ok := w.(interface{ Stored() gguf.Type }); ok && s.Stored() != gguf.TypeF32 {
			return false
		}
	}
	return true
}
