package kernel

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/graft-ai/graft/engine/gguf"
)

// kTypes are the weight types with K-quant integer dots (dotk.go).
var kTypes = []gguf.Type{gguf.TypeQ4_K, gguf.TypeQ5_K, gguf.TypeQ6_K, gguf.TypeQ2_K, gguf.TypeQ3_K}

// refDots are the single reference dots the tile functions must reproduce.
var refDots = map[gguf.Type]func(x, w []byte, nb int) float32{
	gguf.TypeQ4_K: dotQ4K, gguf.TypeQ5_K: dotQ5K, gguf.TypeQ6_K: dotQ6K,
	gguf.TypeQ2_K: dotQ2K, gguf.TypeQ3_K: dotQ3K,
}

// quantizeRows quantizes rows of x (in values each) into Q8_K rows.
func quantizeRows(x []float32, rows, in int) []byte {
	xq := make([]byte, rows*in/256*q8KBytes)
	for r := range rows {
		quantizeQ8K(xq[r*in/256*q8KBytes:(r+1)*in/256*q8KBytes], x[r*in:(r+1)*in])
	}
	return xq
}

// sameBits is bit equality, with every NaN equal to every other: the
// kernels and the reference may carry different NaN payloads.
func sameBits(a, b float32) bool {
	if a != a && b != b {
		return true
	}
	return math.Float32bits(a) == math.Float32bits(b)
}

// TestQuantizeQ8KCases checks quantize_row_q8_K_ref's rules on hand-worked
// blocks: the largest magnitude (first on ties) maps to -127, products
// round half to even, bsums sum 16 quants, d = 1/iscale, and an all-zero
// (or all-NaN) block is all zero.
func TestQuantizeQ8KCases(t *testing.T) {
	b := make([]byte, q8KBytes)
	x := make([]float32, 256)
	x[0], x[1], x[2], x[17] = 2, -4, 1, 0.5
	quantizeQ8K(b, x)
	// iscale = -127/-4 = 31.75: 2 → 63.5 → 64 (even), 1 → 31.75 → 32, 0.5 → 15.875 → 16
	want := map[int]int8{0: 64, 1: -127, 2: 32, 17: 16}
	for j := range 256 {
		if got := int8(b[4+j]); got != want[j] {
			t.Fatalf("qs[%d] = %d, want %d", j, got, want[j])
		}
	}
	if s0, s1 := actBsum(b, 0), actBsum(b, 1); s0 != 64-127+32 || s1 != 16 {
		t.Fatalf("bsums = %d, %d, want -31, 16", s0, s1)
	}
	if d := actD(b); d != float32(1)/float32(31.75) {
		t.Fatalf("d = %v, want 1/31.75", d)
	}

	clear(x)
	x[5], x[9] = 3, -3 // the first of equal magnitudes sets the sign
	quantizeQ8K(b, x)
	if int8(b[4+5]) != -127 || int8(b[4+9]) != 127 || actD(b) >= 0 {
		t.Fatalf("ties: qs = %d, %d, d = %v; want -127, 127, d < 0", int8(b[4+5]), int8(b[4+9]), actD(b))
	}

	for _, fill := range []float32{0, float32(math.NaN())} {
		for j := range x {
			x[j] = fill
		}
		for j := range b {
			b[j] = 0xAA
		}
		quantizeQ8K(b, x)
		for j, v := range b {
			if v != 0 {
				t.Fatalf("block of %v: byte %d = %#x, want 0", fill, j, v)
			}
		}
	}

	// NaN among finite values quantizes to 0; an infinity makes d infinite
	// and every quant 0
	clear(x)
	x[0], x[1] = 1, float32(math.NaN())
	quantizeQ8K(b, x)
	if int8(b[4]) != -127 || b[5] != 0 {
		t.Fatalf("NaN: qs = %d, %d, want -127, 0", int8(b[4]), int8(b[5]))
	}
	x[1] = float32(math.Inf(-1))
	quantizeQ8K(b, x)
	if !math.IsInf(float64(actD(b)), 1) || b[4] != 0 || b[5] != 0 {
		t.Fatalf("Inf: d = %v, qs = %d, %d; want +Inf, 0, 0", actD(b), int8(b[4]), int8(b[5]))
	}
}

// TestQuantizeQ8KProperties: on random rows of many scales, every quant is
// within ±127, within half a step of x/d, and bsums are the sums.
func TestQuantizeQ8KProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 14))
	b := make([]byte, 4*q8KBytes)
	for range 200 {
		x := randomX(r, 4*256)
		s := math.Ldexp(1, r.IntN(60)-30)
		for i := range x {
			x[i] *= float32(s)
		}
		quantizeQ8K(b, x)
		for i := range 4 {
			a := b[i*q8KBytes:]
			d := float64(actD(a))
			for j := range 256 {
				q := actQ(a, j)
				if q < -127 || q > 127 || math.Abs(float64(x[256*i+j])/d-float64(q)) > 0.5001 {
					t.Fatalf("x = %v, d = %v: q = %d", x[256*i+j], d, q)
				}
			}
			for j := range 16 {
				s := int32(0)
				for l := range 16 {
					s += actQ(a, 16*j+l)
				}
				if actBsum(a, j) != s {
					t.Fatalf("bsums[%d] = %d, want %d", j, actBsum(a, j), s)
				}
			}
		}
	}
}

// TestDotKNearFloat64 checks the integer semantics of the reference dots:
// each is, within float32 rounding, the float64 dot of the weights as
// gguf.Dequantize (ggml's decoding) gives them with the activations as
// d·qs.
func TestDotKNearFloat64(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 14))
	const in = 1024
	for _, typ := range kTypes {
		for range 50 {
			w := randomQ(r, typ, 1, in)
			xq := quantizeRows(randomX(r, in), 1, in)
			wf := make([]float32, in)
			if err := gguf.Dequantize(typ, wf, w); err != nil {
				t.Fatal(err)
			}
			var want, mag float64
			for i := range in {
				a := xq[i/256*q8KBytes:]
				v := float64(wf[i]) * float64(actD(a)) * float64(actQ(a, i%256))
				want += v
				mag += math.Abs(v)
			}
			got := float64(refDots[typ](xq, w, in/256))
			if math.Abs(got-want) > 1e-5*mag {
				t.Fatalf("%s: dot = %v, float64 = %v (magnitude %v)", typ, got, want, mag)
			}
		}
	}
}

// TestDotKTiles: the registered dot (AVX2 where the CPU has it) gives the
// reference's bits for every rows×cols tile and odd strides.
func TestDotKTiles(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 14))
	for _, typ := range kTypes {
		for _, nb := range []int{1, 2, 3, 8} {
			in, bb := 256*nb, typ.BlockBytes()
			ldw := nb*bb + 7
			ldx := nb*q8KBytes + 5
			w := make([]byte, 4*ldw)
			for c := range 4 {
				copy(w[c*ldw:], randomQ(r, typ, 1, in))
			}
			x := randomX(r, 8*in)
			xq := make([]byte, 8*ldx)
			for i := range 8 {
				quantizeQ8K(xq[i*ldx:], x[i*in:(i+1)*in])
			}
			checkTiles(t, typ, xq, ldx, w, ldw, nb)
		}
	}
}

// checkTiles runs every tile shape (rows 1..8 of xq, 8 rows ldx apart)
// and compares each element with the reference dot.
func checkTiles(t *testing.T, typ gguf.Type, xq []byte, ldx int, w []byte, ldw, nb int) {
	t.Helper()
	bb := typ.BlockBytes()
	const ldo = 6
	var want [8][4]float32
	for i := range 8 {
		for c := range 4 {
			want[i][c] = refDots[typ](xq[i*ldx:i*ldx+nb*q8KBytes], w[c*ldw:c*ldw+nb*bb], nb)
		}
	}
	out := make([]float32, 8*ldo)
	if row := intDots[typ].row; row != nil {
		for cols := 1; cols <= 4; cols++ {
			clear(out)
			row(&out[0], &xq[0], &w[0], ldw, nb, cols)
			for c := range ldo {
				if got := out[c]; c < cols && !sameBits(got, want[0][c]) || c >= cols && got != 0 {
					t.Fatalf("%s row of %d nb %d: [%d] = %v (%#x), reference %v (%#x)", typ, cols, nb,
						c, got, math.Float32bits(got), want[0][c], math.Float32bits(want[0][c]))
				}
			}
		}
	}
	for rows := 1; rows <= 8; rows++ {
		for cols := 1; cols <= 4; cols++ {
			clear(out)
			intDots[typ].dot(&out[0], ldo, &xq[0], ldx, &w[0], ldw, nb, rows, cols)
			for i := range rows {
				for c := range cols {
					if got := out[i*ldo+c]; !sameBits(got, want[i][c]) {
						t.Fatalf("%s %d×%d nb %d: [%d,%d] = %v (%#x), reference %v (%#x)", typ, rows, cols, nb,
							i, c, got, math.Float32bits(got), want[i][c], math.Float32bits(want[i][c]))
					}
				}
				for c := cols; c < ldo; c++ {
					if out[i*ldo+c] != 0 {
						t.Fatalf("%s %d×%d: wrote out[%d,%d]", typ, rows, cols, i, c)
					}
				}
			}
		}
	}
}

// FuzzDotK feeds arbitrary weight blocks (any scales: NaN, Inf, subnormal)
// and arbitrary activation floats (the fuzzed ones repeated over the rows,
// through the quantizer) to every tile shape, against the reference.
func FuzzDotK(f *testing.F) {
	f.Add(uint8(0), make([]byte, 210), make([]byte, 64))
	f.Add(uint8(4), make([]byte, 176), []byte{0, 0, 0x80, 0x3F})
	ones := make([]byte, 210)
	for i := range ones {
		ones[i] = 0xFF
	}
	f.Add(uint8(1), ones, ones)
	f.Add(uint8(2), []byte{0x00, 0x7C, 0x00, 0xFC, 0x3F}, []byte{0, 0, 0x80, 0x7F, 0, 0, 0xC0, 0x7F, 0, 0, 0x80, 0x3F})
	f.Fuzz(func(t *testing.T, sel uint8, wb, xb []byte) {
		typ := kTypes[int(sel)%len(kTypes)]
		bb := typ.BlockBytes()
		nb := 1 + int(sel)/2%2
		w := make([]byte, 4*nb*bb)
		for i := 0; len(wb) > 0 && i < len(w); i += len(wb) {
			copy(w[i:], wb)
		}
		x := make([]float32, 8*nb*256)
		if n := len(xb) / 4; n > 0 {
			for i := range x {
				x[i] = math.Float32frombits(binary.LittleEndian.Uint32(xb[4*((i*7+i/256)%n):]))
			}
		}
		xq := quantizeRows(x, 8, nb*256)
		checkTiles(t, typ, xq, nb*q8KBytes, w, nb*bb, nb)
	})
}

// TestDotKNoAlloc: the registered quantizer and dots allocate nothing, as
// the decode step must not.
func TestDotKNoAlloc(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 14))
	for _, typ := range kTypes {
		w := randomQ(r, typ, 4, 512)
		x := randomX(r, 8*512)
		xq := make([]byte, 8*2*q8KBytes)
		out := make([]float32, 32)
		d := intDots[typ]
		n := testing.AllocsPerRun(10, func() {
			for i := range 8 {
				d.quantize(xq[i*2*q8KBytes:(i+1)*2*q8KBytes], x[i*512:(i+1)*512])
			}
			for rows := 1; rows <= 8; rows++ {
				for cols := 1; cols <= 4; cols++ {
					d.dot(&out[0], 4, &xq[0], 2*q8KBytes, &w[0], 2*typ.BlockBytes(), 2, rows, cols)
				}
			}
			if d.row != nil {
				d.row(&out[0], &xq[0], &w[0], 2*typ.BlockBytes(), 2, 4)
			}
		})
		if n != 0 {
			t.Fatalf("%s: %v allocations", typ, n)
		}
	}
}
