//go:build goexperiment.simd && amd64

package kernel

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	"github.com/graft-ai/graft/engine/gguf"
)

// TestMatMulQ4_0x8: on packed weights every output has the bits of
// MatMulQ8 on the rows as stored, for lone rows and batches, serial and
// on the pool, and through MatMulQ8Many.
func TestMatMulQ4_0x8(t *testing.T) {
	if !CanPackQ4_0(8, 32) {
		t.Skip("no packed Q4_0 kernels on this CPU or build")
	}
	r := rand.New(rand.NewPCG(8, 40))
	pool := NewPool(2)
	defer pool.Close()
	for _, s := range [][2]int{{8, 32}, {40, 64}, {64, 768}, {2304, 768}, {768, 2048}} {
		outDim, in := s[0], s[1]
		w := randomQ(r, gguf.TypeQ4_0, outDim, in)
		p := make([]byte, len(w))
		PackQ4_0x8(p, w, outDim, in)
		for _, rows := range []int{1, 2, 3, 4, 5, 9, 33} {
			x := randomX(r, rows*in)
			want, got := make([]float32, rows*outDim), make([]float32, rows*outDim)
			MatMulQ8(nil, want, x, w, gguf.TypeQ4_0, rows, in, outDim)
			for _, pl := range []*Pool{nil, pool} {
				for _, minStream := range []int{defaultRowMinStream, 0} {
					rowMinStream = minStream // 0: every lone row of 4 groups or more as streams
					clear(got)
					MatMulQ4_0x8(pl, got, x, p, rows, in, outDim)
					rowMinStream = defaultRowMinStream
					sameOutputs(t, got, want, "MatMulQ4_0x8", outDim, in, rows, pl)
				}
				clear(got)
				if !MatMulQ8Many(pl, x, rows, in, []QProj{{Out: got, W: p, T: gguf.TypeQ4_0, OutDim: outDim, Packed: true}}) {
					t.Fatalf("MatMulQ8Many declined %d rows of packed weights", rows)
				}
				sameOutputs(t, got, want, "MatMulQ8Many", outDim, in, rows, pl)
			}
		}
	}
}

func sameOutputs(t *testing.T, got, want []float32, what string, outDim, in, rows int, p *Pool) {
	t.Helper()
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s %dx%d, %d rows, pool %v: out[%d] = %g, stored rows give %g", what, outDim, in, rows, p != nil, i, got[i], want[i])
		}
	}
}

// TestMatMulQ4_0x8NoAlloc: a decode step's packed matmul allocates
// nothing once the pool's scratch is sized.
func TestMatMulQ4_0x8NoAlloc(t *testing.T) {
	if !CanPackQ4_0(8, 32) {
		t.Skip("no packed Q4_0 kernels on this CPU or build")
	}
	r := rand.New(rand.NewPCG(9, 40))
	const in, outDim = 512, 64
	pool := NewPool(2)
	defer pool.Close()
	w := randomQ(r, gguf.TypeQ4_0, outDim, in)
	p := make([]byte, len(w))
	PackQ4_0x8(p, w, outDim, in)
	x, out := randomX(r, 4*in), make([]float32, 4*outDim)
	for _, pl := range []*Pool{pool, nil} {
		MatMulQ4_0x8(pl, out, x, p, 4, in, outDim)
		if n := testing.AllocsPerRun(20, func() { MatMulQ4_0x8(pl, out, x[:in], p, 1, in, outDim) }); n != 0 {
			t.Errorf("pool %v: %v allocations per call", pl != nil, n)
		}
	}
}

// FuzzPackedQ4_0: on arbitrary weight blocks and activations (NaN and Inf
// scales or values included) the packed kernels of 1 to 4 rows and
// MatMulQ4_0x8 give the reference's bits (NaN for NaN), without crashing.
func FuzzPackedQ4_0(f *testing.F) {
	f.Add(uint8(0), uint64(1), []byte{}, []byte{})
	f.Add(uint8(3), uint64(2), []byte{0, 0x7c}, []byte{0, 0, 0x80, 0x7f})
	f.Fuzz(func(t *testing.T, rows uint8, seed uint64, blocks, xbits []byte) {
		if !CanPackQ4_0(8, 32) {
			t.Skip("no packed Q4_0 kernels on this CPU or build")
		}
		R := 1 + int(rows)%4
		rng := rand.New(rand.NewPCG(seed, 40))
		nb, groups := 1+int(seed%5), 1+int(seed/5%2)
		in, outDim := 32*nb, 8*groups
		w := randomQ(rng, gguf.TypeQ4_0, outDim, in)
		copy(w, blocks)
		x := randomX(rng, R*in)
		for i := 0; i+4 <= len(xbits) && i/4 < len(x); i += 4 {
			x[i/4] = math.Float32frombits(binary.LittleEndian.Uint32(xbits[i:]))
		}
		ldx := nb * 34
		xq := make([]byte, R*ldx)
		for r := range R {
			quantizeQ8_0Act(xq[r*ldx:(r+1)*ldx], x[r*in:(r+1)*in])
		}
		want := make([]float32, R*outDim)
		refIntDots[gguf.TypeQ4_0](&want[0], outDim, &xq[0], ldx, &w[0], nb*18, nb, R, outDim)
		p := make([]byte, len(w))
		PackQ4_0x8(p, w, outDim, in)
		got := make([]float32, R*outDim)
		MatMulQ4_0x8(nil, got, x, p, R, in, outDim)
		for i, g := range got {
			if h := want[i]; math.Float32bits(g) != math.Float32bits(h) && !(g != g && h != h) {
				t.Fatalf("%d rows, %d groups, nb %d: out[%d] = %g, reference %g", R, groups, nb, i, g, h)
			}
		}
	})
}

// actSums writes 8·Σx of each of the nb Q8_0 activation blocks of xq after
// them, as little-endian int32: actSums8's reference.
func actSums(xq []byte, nb int) {
	sums := xq[nb*34 : nb*38]
	for b := range nb {
		var s int32
		for _, v := range xq[b*34+2 : b*34+34] {
			s += int32(int8(v))
		}
		binary.LittleEndian.PutUint32(sums[4*b:], uint32(8*s))
	}
}

// TestActSums8: the assembly sums equal the reference on random blocks
// and on blocks of all -128 and all 127.
func TestActSums8(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 40))
	for _, nb := range []int{1, 3, 64} {
		xq := make([]byte, nb*38)
		for i := range xq[:nb*34] {
			xq[i] = byte(r.Uint32())
		}
		for i := 2; i < 34; i++ {
			xq[i] = 0x80 // block 0: all -128
			if nb > 1 {
				xq[34+i] = 0x7f // block 1: all 127
			}
		}
		want := slices.Clone(xq)
		actSums(want, nb)
		actSums8((*int32)(unsafe.Pointer(&xq[nb*34])), &xq[0], nb)
		if !bytes.Equal(xq, want) {
			t.Fatalf("%d blocks: sums %v, reference %v", nb, xq[nb*34:], want[nb*34:])
		}
	}
}
