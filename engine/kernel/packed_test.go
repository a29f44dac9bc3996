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
	}{{gguf.TypeQ4_0, []int{32, 768, 96}, 32}, {gguf.TypeQ4_K, []int{256, 768, 2048}, 256}, {gguf.TypeQ6_K, []int{256, 768, 2048}, 256}, {gguf.TypeQ2_K, []int{256, 768, 2048}, 256}, {gguf.TypeQ3_K, []int{256, 768, 2048}, 256}} {
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
