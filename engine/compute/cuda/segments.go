package cuda

import (
	"encoding/binary"
	"fmt"
	"math"
)

// loraSeg is one adapter segment as the LoRA kernels read it.
type loraSeg struct {
	start, end, rank int
	scale            float32
	a, b             uintptr // device pointers to A (rank x in) and B (out x rank)
}

// segBytes is the size of struct Seg in kernels/lora.cu.
const segBytes = 32

// segTable encodes segments for the kernels and returns the largest rank. It
// checks what the kernels assume: rows inside [0, rows), segments in order
// and disjoint, and a rank of at least 1.
func segTable(segs []loraSeg, rows int) ([]byte, int, error) {
	buf := make([]byte, len(segs)*segBytes)
	maxRank, prevEnd := 0, 0
	for i, s := range segs {
		if s.start < prevEnd || s.end <= s.start || s.end > rows {
			return nil, 0, fmt.Errorf("lora segment %d covers rows [%d, %d): not ordered, empty or outside %d rows", i, s.start, s.end, rows)
		}
		if s.rank < 1 {
			return nil, 0, fmt.Errorf("lora segment %d has rank %d", i, s.rank)
		}
		prevEnd = s.end
		maxRank = max(maxRank, s.rank)
		e := buf[i*segBytes:]
		binary.LittleEndian.PutUint32(e[0:], uint32(s.start))
		binary.LittleEndian.PutUint32(e[4:], uint32(s.end))
		binary.LittleEndian.PutUint32(e[8:], uint32(s.rank))
		binary.LittleEndian.PutUint32(e[12:], math.Float32bits(s.scale))
		binary.LittleEndian.PutUint64(e[16:], uint64(s.a))
		binary.LittleEndian.PutUint64(e[24:], uint64(s.b))
	}
	return buf, maxRank, nil
}
