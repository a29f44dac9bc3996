//go:build goexperiment.simd && amd64

package kernel

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/graft-ai/graft/engine/gguf"
)

// packedCases are the packed types with the shapes their tests take.
var packedCases = []struct {
	typ    gguf.Type
	shapes [][2]int // outDim, in
}{
	{gguf.TypeQ4_0, [][2]int{{8, 32}, {40, 64}, {64, 768}, {2304, 768}, {768, 2048}}},
	{gguf.TypeQ5_0, [][2]int{{8, 32}, {40, 64}, {64, 768}, {2304, 768}, {768, 2048}}},
	{gguf.TypeQ4_1, [][2]int{{8, 32}, {40, 64}, {64, 768}, {2304, 768}, {768, 2048}}},
	{gguf.TypeQ5_1, [][2]int{{8, 32}, {40, 64}, {64, 768}, {2304, 768}, {768, 2048}}},
	{gguf.TypeQ4_K, [][2]int{{8, 256}, {40, 512}, {64, 768}, {2304, 768}, {768, 2048}}},
	{gguf.TypeQ6_K, [][2]int{{8, 256}, {40, 512}, {64, 768}, {2304, 768}, {768, 2048}}},
	{gguf.TypeQ2_K, [][2]int{{8, 256}, {40, 512}, {64, 768}, {2304, 768}, {768, 2048}}},
	{gguf.TypeQ3_K, [][2]int{{8, 256}, {40, 512}, {64, 768}, {2304, 768}, {768, 2048}}},
}

// packedRefs are the portable references of the packed kernels: the dot
// on rows as stored (dotQ4_0Q8_0's, or the others' dot*Packed) and the
// activations' quantizer.
var packedRefs = map[gguf.Type]struct {
	dot      qdotIFunc
	quantize func(dst []byte, x []float32)
	actBytes int
}{
	gguf.TypeQ4_0: {refIntDots[gguf.TypeQ4_0], quantizeQ8_0Act, 34},
	gguf.TypeQ5_0: {tileOf(dotQ5_0Packed, 34, 22), quantizeQ8_0Act, 34},
	gguf.TypeQ4_1: {tileOf(dotQ4_1Packed, q8_1Bytes, 20), quantizeQ8_1Act, q8_1Bytes},
	gguf.TypeQ5_1: {tileOf(dotQ5_1Packed, q8_1Bytes, 24), quantizeQ8_1Act, q8_1Bytes},
	gguf.TypeQ4_K: {tileOf(dotQ4KPacked, q8KBytes, q4KBytes), quantizeQ8K, q8KBytes},
	gguf.TypeQ6_K: {tileOf(dotQ6KPacked, q8KBytes, q6KBytes), quantizeQ8K, q8KBytes},
	gguf.TypeQ2_K: {tileOf(dotQ2KPacked, q8KBytes, q2KBytes), quantizeQ8K, q8KBytes},
	gguf.TypeQ3_K: {tileOf(dotQ3KPacked, q8KBytes, q3KBytes), quantizeQ8K, q8KBytes},
}

// packedWant is what MatMulPacked must give on weights w (as stored): the
// type's reference.
func packedWant(typ gguf.Type, x []float32, w []byte, rows, in, outDim int) []float32 {
	ref, nb := packedRefs[typ], in/typ.BlockSize()
	ldx := nb * ref.actBytes
	xq := make([]byte, rows*ldx)
	for r := range rows {
		ref.quantize(xq[r*ldx:(r+1)*ldx], x[r*in:(r+1)*in])
	}
	want := make([]float32, rows*outDim)
	ref.dot(&want[0], outDim, &xq[0], ldx, &w[0], nb*typ.BlockBytes(), nb, rows, outDim)
	return want
}

func packed(typ gguf.Type, w []byte, rows, cols int) []byte {
	p := make([]byte, PackedBytes(typ, rows, cols))
	Pack(typ, p, w, rows, cols)
	return p
}

// TestMatMulPacked: on packed weights every output has the bits of the
// type's packed reference (packedWant), for lone rows and batches, serial
// and on the pool, as streams or in order, and through MatMulQ8Many; on
// Q4_0 those are also MatMulQ8's on the rows as stored.
func TestMatMulPacked(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 40))
	pool := NewPool(2)
	defer pool.Close()
	for _, c := range packedCases {
		if !CanPack(c.typ, 8, c.shapes[0][1]) {
			t.Skipf("no packed %s kernels on this CPU or build", c.typ)
		}
		checkMatMulPacked(t, r, pool, c.typ, c.shapes, []int{1, 2, 3, 4, 5, 9, 33})
	}
}

// checkMatMulPacked is TestMatMulPacked for one type with the kernels
// installed now.
func checkMatMulPacked(t *testing.T, r *rand.Rand, pool *Pool, typ gguf.Type, shapes [][2]int, rowCounts []int) {
	t.Helper()
	for _, s := range shapes {
		outDim, in := s[0], s[1]
		w := randomQ(r, typ, outDim, in)
		p := packed(typ, w, outDim, in)
		for _, rows := range rowCounts {
			x := randomX(r, rows*in)
			want, got := packedWant(typ, x, w, rows, in, outDim), make([]float32, rows*outDim)
			if typ == gguf.TypeQ4_0 {
				MatMulQ8(nil, got, x, w, typ, rows, in, outDim)
				sameOutputs(t, got, want, "MatMulQ8 (stored) Q4_0", outDim, in, rows, nil)
			}
			for _, pl := range []*Pool{nil, pool} {
				for _, minStream := range []int{defaultRowMinStream, 0} {
					rowMinStream = minStream // 0: every lone row of 4 groups or more as streams
					clear(got)
					MatMulPacked(pl, got, x, p, typ, rows, in, outDim)
					rowMinStream = defaultRowMinStream
					sameOutputs(t, got, want, "MatMulPacked "+typ.String(), outDim, in, rows, pl)
				}
				clear(got)
				if !MatMulQ8Many(pl, x, rows, in, []QProj{{Out: got, W: p, T: typ, OutDim: outDim, Packed: true}}) {
					t.Fatalf("MatMulQ8Many declined %d rows of packed %s weights", rows, typ)
				}
				sameOutputs(t, got, want, "MatMulQ8Many "+typ.String(), outDim, in, rows, pl)
			}
		}
	}
}

// TestPackedKernelSets: every kernel set init may install for a packed
// type gives the references' bits, not only the one this CPU gets (here,
// on an AVX-512 machine with GFNI, the VNNI sets a CPU without GFNI takes,
// and the AVX2 ones).
func TestPackedKernelSets(t *testing.T) {
	if !hasVNNI512() {
		t.Skip("no AVX-512 VNNI: the AVX2 sets are the ones installed, and TestMatMulPacked runs them")
	}
	type kernelSet struct {
		name    string
		typ     gguf.Type
		install func()
	}
	var sets []kernelSet
	for _, k := range x8Kernels {
		sets = append(sets, kernelSet{"AVX2", k.typ, func() { k.use(&k.avx2, k.avx2s4) }},
			kernelSet{"VNNI", k.typ, func() { k.use(&k.vnni, k.vnnis4) }})
		if hasGFNI512() {
			sets = append(sets, kernelSet{"GFNI", k.typ, func() { k.use(&k.gfni, k.gfnis4) }})
		}
	}
	for _, c := range packedCases {
		for i, k := range []*dotkSet{dotkPackedAVX2[c.typ], dotkPackedVNNI[c.typ]} {
			if k != nil {
				sets = append(sets, kernelSet{[]string{"AVX2", "VNNI"}[i], c.typ, func() { installPackedK(c.typ, k) }})
			}
		}
	}
	r := rand.New(rand.NewPCG(8, 41))
	pool := NewPool(2)
	defer pool.Close()
	for _, set := range sets {
		t.Run(set.typ.String()+"/"+set.name, func(t *testing.T) {
			saved := packings[set.typ].dot
			defer func() { packings[set.typ].dot = saved }()
			set.install()
			checkMatMulPacked(t, r, pool, set.typ, [][2]int{{40, 512}, {64, 768}}, []int{1, 2, 3, 5, 33})
		})
	}
}

func sameOutputs(t *testing.T, got, want []float32, what string, outDim, in, rows int, p *Pool) {
	t.Helper()
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s %dx%d, %d rows, pool %v: out[%d] = %g, reference %g", what, outDim, in, rows, p != nil, i, got[i], want[i])
		}
	}
}

// TestMatMulPackedNoAlloc: a decode step's packed matmul allocates
// nothing once the pool's scratch is sized.
func TestMatMulPackedNoAlloc(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 40))
	const in, outDim = 512, 64
	pool := NewPool(2)
	defer pool.Close()
	for _, c := range packedCases {
		if !CanPack(c.typ, outDim, in) {
			t.Skipf("no packed %s kernels on this CPU or build", c.typ)
		}
		p := packed(c.typ, randomQ(r, c.typ, outDim, in), outDim, in)
		x, out := randomX(r, 4*in), make([]float32, 4*outDim)
		for _, pl := range []*Pool{pool, nil} {
			MatMulPacked(pl, out, x, p, c.typ, 4, in, outDim)
			if n := testing.AllocsPerRun(20, func() { MatMulPacked(pl, out, x[:in], p, c.typ, 1, in, outDim) }); n != 0 {
				t.Errorf("%s, pool %v: %v allocations per call", c.typ, pl != nil, n)
			}
		}
	}
}

// FuzzPackedQ4_0 and the others: on arbitrary weight blocks and
// activations (NaN and Inf scales or values included) the packed kernels
// of 1 to 4 rows, as streams and in order, give the reference's bits (NaN
// for NaN), without crashing. The seeds in testdata/fuzz of Q2_K, Q3_K,
// Q5_0, Q4_1 and Q5_1 take the int16 sums to their extremes (every quant
// and scale at its largest, the activations all ±127) and put NaN and Inf
// in the scales (d, dmin, m) and the activations.
func FuzzPackedQ4_0(f *testing.F) {
	f.Add(uint8(3), uint64(2), []byte{0, 0x7c}, []byte{0, 0, 0x80, 0x7f})
	fuzzPackedType(f, gguf.TypeQ4_0)
}

func FuzzPackedQ5_0(f *testing.F) { fuzzPackedType(f, gguf.TypeQ5_0) }
func FuzzPackedQ4_1(f *testing.F) { fuzzPackedType(f, gguf.TypeQ4_1) }
func FuzzPackedQ5_1(f *testing.F) { fuzzPackedType(f, gguf.TypeQ5_1) }
func FuzzPackedQ2_K(f *testing.F) { fuzzPackedType(f, gguf.TypeQ2_K) }
func FuzzPackedQ3_K(f *testing.F) { fuzzPackedType(f, gguf.TypeQ3_K) }

func FuzzPackedQ4_K(f *testing.F) {
	f.Add(uint8(3), uint64(2), []byte{0, 0x7c, 0, 0xfc}, []byte{0, 0, 0x80, 0x7f})
	fuzzPackedType(f, gguf.TypeQ4_K)
}

func FuzzPackedQ6_K(f *testing.F) {
	f.Add(uint8(3), uint64(2), append(make([]byte, 208), 0, 0x7c), []byte{0, 0, 0x80, 0x7f})
	fuzzPackedType(f, gguf.TypeQ6_K)
}

// fuzzPackedType is a packed type's fuzz target, with an empty seed.
func fuzzPackedType(f *testing.F, typ gguf.Type) {
	f.Add(uint8(0), uint64(1), []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, rows uint8, seed uint64, blocks, xbits []byte) {
		fuzzPacked(t, typ, rows, seed, blocks, xbits)
	})
}

func fuzzPacked(t *testing.T, typ gguf.Type, rows uint8, seed uint64, blocks, xbits []byte) {
	bs := typ.BlockSize()
	if !CanPack(typ, 8, bs) {
		t.Skipf("no packed %s kernels on this CPU or build", typ)
	}
	R := 1 + int(rows)%4
	rng := rand.New(rand.NewPCG(seed, 40))
	nb, groups := 1+int(seed%5), 1+4*int(seed/5%2) // 1 or 5 groups: in order, or 4 streams and one more
	in, outDim := bs*nb, 8*groups
	w := randomQ(rng, typ, outDim, in)
	copy(w, blocks)
	x := randomX(rng, R*in)
	for i := 0; i+4 <= len(xbits) && i/4 < len(x); i += 4 {
		x[i/4] = math.Float32frombits(binary.LittleEndian.Uint32(xbits[i:]))
	}
	want := packedWant(typ, x, w, R, in, outDim)
	p := packed(typ, w, outDim, in)
	got := make([]float32, R*outDim)
	rowMinStream = 0
	defer func() { rowMinStream = defaultRowMinStream }()
	MatMulPacked(nil, got, x, p, typ, R, in, outDim)
	for i, g := range got {
		if h := want[i]; math.Float32bits(g) != math.Float32bits(h) && !(g != g && h != h) {
			t.Fatalf("%s: %d rows, %d groups, nb %d: out[%d] = %g, reference %g", typ, R, groups, nb, i, g, h)
		}
	}
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

// BenchmarkPackedRow compares, on one thread, a lone activation row's dots
// with weights as stored and packed (runInt, the decode path), in G
// weights/s: "hot" is 256 rows of 2048 (in L2), "cold" the 32000×768
// output layer (from memory). Both run in turn within one loop, so that a
// host whose speed drifts moves both alike, and packed/stored is their
// ratio.
func BenchmarkPackedRow(b *testing.B) {
	r := rand.New(rand.NewPCG(12, 40))
	for _, c := range packedCases {
		for _, s := range []struct {
			name    string
			out, in int
		}{{"hot", 256, 2048}, {"cold", 32000, 768}} {
			if !CanPack(c.typ, s.out, s.in) {
				b.Skipf("no packed %s kernels on this CPU or build", c.typ)
			}
			w := randomQ(r, c.typ, s.out, s.in)
			x := randomX(r, s.in)
			out := make([]float32, s.out)
			var rows [2]func()
			for i, pk := range []bool{false, true} {
				id, wl := dotFor(c.typ, pk), w
				if pk {
					wl = packed(c.typ, w, s.out, s.in)
				}
				j := newQ8Job(out, x, wl, c.typ, id, 1, s.in, s.out)
				j.xq = make([]byte, j.ldq)
				id.quantize(j.xq, x)
				rows[i] = func() { j.runInt(0, j.units()) }
			}
			b.Run(fmt.Sprintf("%s/%s", c.typ, s.name), func(b *testing.B) {
				var d [2]time.Duration
				for b.Loop() {
					for i, row := range rows {
						t0 := time.Now()
						row()
						d[i] += time.Since(t0)
					}
				}
				for i, name := range []string{"stored", "packed"} {
					b.ReportMetric(float64(b.N*s.out*s.in)/d[i].Seconds()/1e9, "Gw/s-"+name)
				}
				b.ReportMetric(d[0].Seconds()/d[1].Seconds(), "packed/stored")
			})
		}
	}
}

// TestQuantizeQ8KT: packed Q6_K's activations (actQ8_KT) are quantizeQ8K's
// blocks with quant q6KAt(g, b) at byte 32g+b, d and bsums as they were,
// the same bytes from the AVX2 quantizer as from the reference.
func TestQuantizeQ8KT(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 40))
	for _, nb := range []int{1, 3, 8} {
		x := randomX(r, 256*nb)
		natural, want, got := make([]byte, nb*q8KBytes), make([]byte, nb*q8KBytes), make([]byte, nb*q8KBytes)
		quantizeQ8K(natural, x)
		quantizeQ8KT(want, x)
		quantizeQ8KTAVX2(got, x)
		if !bytes.Equal(got, want) {
			t.Fatalf("%d blocks: the AVX2 quantizer's bytes differ from quantizeQ8KT's", nb)
		}
		for i := range nb {
			a, n := want[i*q8KBytes:(i+1)*q8KBytes], natural[i*q8KBytes:(i+1)*q8KBytes]
			if !bytes.Equal(a[:4], n[:4]) || !bytes.Equal(a[260:], n[260:]) {
				t.Fatalf("%d blocks: block %d's d or bsums moved", nb, i)
			}
			for g := range 8 {
				for b := range 32 {
					if a[4+32*g+b] != n[4+q6KAt(g, b)] {
						t.Fatalf("%d blocks: block %d byte %d of group %d is not quant %d", nb, i, b, g, q6KAt(g, b))
					}
				}
			}
		}
	}
}
