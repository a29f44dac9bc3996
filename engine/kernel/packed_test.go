package kernel

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/graft-ai/graft/engine/gguf"
)

// TestPackRoundTrip: every row unpacked from a packed matrix is the row as
// stored, and shapes that are not whole groups are refused.
func TestPackRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 40))
	for _, c := range []struct {
		typ   gguf.Type
		cols  []int
		block int
	}{{gguf.TypeQ4_0, []int{32, 768, 96}, 32}, {gguf.TypeQ5_0, []int{32, 768, 96}, 32}, {gguf.TypeQ4_1, []int{32, 768, 96}, 32}, {gguf.TypeQ5_1, []int{32, 768, 96}, 32}, {gguf.TypeQ4_K, []int{256, 768, 2048}, 256}, {gguf.TypeQ6_K, []int{256, 768, 2048}, 256}, {gguf.TypeQ2_K, []int{256, 768, 2048}, 256}, {gguf.TypeQ3_K, []int{256, 768, 2048}, 256}} {
		for i, cols := range c.cols {
			rows := 8 << i
			w := randomQ(r, c.typ, rows, cols)
			p := make([]byte, PackedBytes(c.typ, rows, cols))
			Pack(c.typ, p, w, rows, cols)
			if bytes.Equal(p[:min(len(p), len(w))], w[:min(len(p), len(w))]) {
				t.Fatalf("%s %dx%d: packing changed nothing", c.typ, rows, cols)
			}
			rb := cols / c.block * c.typ.BlockBytes()
			row := make([]byte, rb)
			for i := range rows {
				UnpackRow(c.typ, row, p, i, cols)
				if !bytes.Equal(row, w[i*rb:(i+1)*rb]) {
					t.Fatalf("%s %dx%d: row %d unpacks to other bytes", c.typ, rows, cols, i)
				}
			}
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Fatalf("%s: 12 rows (not whole groups of 8) were packed", c.typ)
				}
			}()
			n := 12 * c.typ.BlockBytes()
			Pack(c.typ, make([]byte, n), make([]byte, n), 12, c.block)
		}()
	}
}

// TestDotKPacked: the packed K-quant references agree with the stored
// ones (dotQ4K, dotQ6K, dotQ2K, dotQ3K, checked against ggml) and with a float64 dot over the
// dequantized weights and activations, to float32 rounding of the sums.
func TestDotKPacked(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 40))
	for _, c := range []struct {
		typ            gguf.Type
		packed, stored func(x, w []byte, nb int) float32
	}{{gguf.TypeQ4_K, dotQ4KPacked, dotQ4K}, {gguf.TypeQ6_K, dotQ6KPacked, dotQ6K}, {gguf.TypeQ2_K, dotQ2KPacked, dotQ2K}, {gguf.TypeQ3_K, dotQ3KPacked, dotQ3K}} {
		for _, nb := range []int{1, 3, 8} {
			for range 50 {
				w := randomQ(r, c.typ, 1, 256*nb)
				xq := make([]byte, nb*q8KBytes)
				quantizeQ8K(xq, randomX(r, 256*nb))
				wf := make([]float32, 256*nb)
				if err := gguf.Dequantize(c.typ, wf, w); err != nil {
					t.Fatal(err)
				}
				var exact, mag float64
				for i, v := range wf {
					a := xq[q8KBytes*(i/256):]
					p := float64(v) * float64(actD(a)) * float64(actQ(a, i%256))
					exact, mag = exact+p, mag+math.Abs(p)
				}
				got, stored := c.packed(xq, w, nb), c.stored(xq, w, nb)
				if d := math.Abs(float64(got) - exact); d > 1e-5*mag {
					t.Fatalf("%s nb %d: packed reference %g, float64 %g (Σ|terms| %g)", c.typ, nb, got, exact, mag)
				}
				if d := math.Abs(float64(got - stored)); d > 1e-5*mag {
					t.Fatalf("%s nb %d: packed reference %g, stored %g (Σ|terms| %g)", c.typ, nb, got, stored, mag)
				}
			}
		}
	}
}

// TestDotX8Packed: the packed references of Q5_0, Q4_1 and Q5_1 agree
// with the stored ones (dotQ5_0Q8_0, dotQ4_1Q8_1 and dotQ5_1Q8_1, checked
// against ggml) and with a float64 dot over the dequantized weights and
// activations, to float32 rounding of the sums. (Q4_1's and Q5_1's m meet
// the activation block's s, d·Σq rounded to a half, in all three.)
func TestDotX8Packed(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 40))
	for _, c := range []struct {
		typ            gguf.Type
		xb             int
		quantize       func([]byte, []float32)
		packed, stored func(x, w []byte, nb int) float32
	}{
		{gguf.TypeQ5_0, 34, quantizeQ8_0Act, dotQ5_0Packed, dotQ5_0Q8_0},
		{gguf.TypeQ4_1, q8_1Bytes, quantizeQ8_1Act, dotQ4_1Packed, dotQ4_1Q8_1},
		{gguf.TypeQ5_1, q8_1Bytes, quantizeQ8_1Act, dotQ5_1Packed, dotQ5_1Q8_1},
	} {
		for _, nb := range []int{1, 3, 24} {
			for range 50 {
				w := randomQ(r, c.typ, 1, 32*nb)
				xq := make([]byte, nb*c.xb)
				c.quantize(xq, randomX(r, 32*nb))
				wf := make([]float32, 32*nb)
				if err := gguf.Dequantize(c.typ, wf, w); err != nil {
					t.Fatal(err)
				}
				exact, mag := x8Exact(wf, w, xq, c.typ.BlockBytes(), c.xb)
				got, stored := c.packed(xq, w, nb), c.stored(xq, w, nb)
				if d := math.Abs(float64(got) - exact); d > 1e-5*mag {
					t.Fatalf("%s nb %d: packed reference %g, float64 %g (Σ|terms| %g)", c.typ, nb, got, exact, mag)
				}
				if d := math.Abs(float64(got - stored)); d > 1e-5*mag {
					t.Fatalf("%s nb %d: packed reference %g, stored %g (Σ|terms| %g)", c.typ, nb, got, stored, mag)
				}
			}
		}
	}
}

// x8Exact is the float64 dot of dequantized weights wf (blocks w of wb
// bytes) with activation blocks xq of xb bytes, and the sum of its terms'
// magnitudes. With Q8_1 activations (xb 36) a block's m·d·Σq is m·s.
func x8Exact(wf []float32, w, xq []byte, wb, xb int) (exact, mag float64) {
	for b := range len(wf) / 32 {
		x := xq[b*xb:]
		dx, sq := float64(half(x)), 0.0
		for k := range 32 {
			q := float64(int8(x[xb-32+k]))
			p := float64(wf[32*b+k]) * dx * q
			exact, mag, sq = exact+p, mag+math.Abs(p), sq+q
		}
		if xb == q8_1Bytes {
			p := float64(half(w[b*wb+2:])) * (float64(half(x[2:])) - dx*sq)
			exact, mag = exact+p, mag+math.Abs(p)
		}
	}
	return exact, mag
}
