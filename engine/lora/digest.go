package lora

import (
	"crypto/sha256"
	"encoding/binary"
	"math"

	"github.com/graft-ai/graft/engine/model"
)

// Digest names an adapter's effect on the model: a SHA-256 of every module's
// rank, scale and weights in model order. Adapters with equal digests compute
// equal K/V, whatever they are called, so a prefix cache keys on it; an
// adapter re-uploaded under the same name with other weights gets another.
func Digest(weights [][model.NumModules]*model.HostLoRA) [32]byte {
	h := sha256.New()
	var buf []byte
	for layer := range weights {
		for mod, w := range weights[layer] {
			if w == nil {
				continue
			}
			buf = binary.LittleEndian.AppendUint32(buf[:0], uint32(layer))
			buf = binary.LittleEndian.AppendUint32(buf, uint32(mod))
			buf = binary.LittleEndian.AppendUint32(buf, uint32(w.Rank))
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(w.Scale))
			buf = binary.LittleEndian.AppendUint64(buf, uint64(len(w.A)))
			h.Write(buf)
			writeFloats(h, w.A)
			writeFloats(h, w.B)
		}
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

type byteWriter interface{ Write([]byte) (int, error) }

func writeFloats(h byteWriter, v []float32) {
	var buf [4096]byte
	for len(v) > 0 {
		n := min(len(v), len(buf)/4)
		for i, f := range v[:n] {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(f))
		}
		h.Write(buf[:4*n])
		v = v[n:]
	}
}
