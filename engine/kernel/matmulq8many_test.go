package kernel

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/graft-ai/graft/engine/gguf"
)

// TestMatMulQ8ManyMatchesMatMulQ8: projections of one x in one pass have the
// bits of one MatMulQ8 each, for mixed types (a Q4_K_M layer mixes Q4_K and
// Q6_K; Q8_0 and Q4_K quantize x differently), any row count and pool size.
func TestMatMulQ8ManyMatchesMatMulQ8(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	const in = 512
	mixes := [][]gguf.Type{
		{gguf.TypeQ8_0, gguf.TypeQ8_0, gguf.TypeQ8_0},
		{gguf.TypeQ4_K, gguf.TypeQ4_K, gguf.TypeQ6_K},
		{gguf.TypeQ4_0, gguf.TypeQ4_K},
		{gguf.TypeQ6_K},
	}
	dims := []int{36, 12, 44}
	for _, size := range []int{1, 2, 3} {
		p := NewPool(size)
		for _, mix := range mixes {
			for _, rows := range []int{1, 2, 5, 9} {
				x := randVec(rng, rows*in)
				projs := make([]QProj, len(mix))
				for i, typ := range mix {
					projs[i] = QProj{W: randomQ(rng, typ, dims[i], in), T: typ, OutDim: dims[i], Out: make([]float32, rows*dims[i])}
				}
				batched := rows > 1 && slices.ContainsFunc(mix, func(typ gguf.Type) bool { return intDots[typ].batch != nil })
				if took := MatMulQ8Many(p, x, rows, in, projs); took == batched {
					t.Fatalf("%v, rows %d: MatMulQ8Many took them %v, want %v (several rows of a batched type go one by one)", mix, rows, took, !batched)
				} else if !took {
					continue
				}
				for i, pr := range projs {
					want := make([]float32, rows*pr.OutDim)
					MatMulQ8(p, want, x, pr.W, pr.T, rows, in, pr.OutDim)
					for k := range want {
						if math.Float32bits(want[k]) != math.Float32bits(pr.Out[k]) {
							t.Fatalf("pool %d, %v, rows %d: projection %d output %d = %g, MatMulQ8 gives %g",
								size, mix, rows, i, k, pr.Out[k], want[k])
						}
					}
				}
			}
		}
		p.Close()
	}
}

func TestMatMulQ8ManyDeclines(t *testing.T) {
	x := make([]float32, 64)
	pr := QProj{W: make([]byte, 64*gguf.TypeF16.BlockBytes()), T: gguf.TypeF16, OutDim: 1, Out: make([]float32, 1)}
	if HasIntDot(gguf.TypeF16) {
		t.Fatal("F16 has an integer dot: pick a type without one")
	}
	if MatMulQ8Many(nil, x, 1, 64, []QProj{pr}) {
		t.Fatal("MatMulQ8Many took a type without an integer dot")
	}
}

func TestMatMulQ8ManyNoAlloc(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	p := NewPool(2)
	defer p.Close()
	const in, out = 256, 64
	x := randVec(rng, in)
	projs := []QProj{
		{W: randomQ(rng, gguf.TypeQ8_0, out, in), T: gguf.TypeQ8_0, OutDim: out, Out: make([]float32, out)},
		{W: randomQ(rng, gguf.TypeQ4_K, out, in), T: gguf.TypeQ4_K, OutDim: out, Out: make([]float32, out)},
	}
	MatMulQ8Many(p, x, 1, in, projs)
	if n := testing.AllocsPerRun(50, func() { MatMulQ8Many(p, x, 1, in, projs) }); n != 0 {
		t.Fatalf("MatMulQ8Many allocates %v times per call", n)
	}
}
