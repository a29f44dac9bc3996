package model

import (
	"fmt"

	"github.com/graft-ai/graft/engine/compute"
)

// KV cache element types, as --kv-cache-dtype names them. KVAuto is float32,
// the type the CPU backend computes attention in: a half cache (llama.cpp's
// default) halves the cache's memory and the bytes a long context's decode
// step reads, but the engine's peak RSS is then over its budget of weights +
// cache + 20% on the 110M benchmark (its fixed buffers stop fitting in 20% of
// a smaller cache), so it is asked for, not assumed.
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
// KVF16 for this model and backend. An f16 on a backend without half caches,
// or an unknown name, is an error.
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
		return KVF32, nil
	}
	return "", fmt.Errorf("kv cache dtype %q is not supported (want auto, f32 or f16)", want)
}

// KVBytesPerToken is the K and V of every layer for one token, in elements
// of a resolved cache type.
func (c *Config) KVBytesPerToken(dtype string) int64 {
	elem := 4
	if dtype == KVF16 {
		elem = 2
	}
	return int64(2 * c.Layers * c.KVHeads * c.HeadDim * elem)
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
