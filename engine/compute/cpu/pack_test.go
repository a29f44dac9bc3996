package cpu

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/float16"
	"github.com/graft-ai/graft/engine/gguf"
	"github.com/graft-ai/graft/engine/kernel"
)

// randomBlocks is rows×cols random values of type t (Q4_0 or Q4_K) with
// small finite scales (and mins).
func randomBlocks(r *rand.Rand, t gguf.Type, rows, cols int) []byte {
	bb := t.BlockBytes()
	w := make([]byte, rows*cols/t.BlockSize()*bb)
	for i := range w {
		w[i] = byte(r.Uint32())
	}
	halves := 1 // Q4_0: d
	if t == gguf.TypeQ4_K {
		halves = 2 // d, dmin
	}
	for b := 0; b < len(w); b += bb {
		for h := range halves {
			binary.LittleEndian.PutUint16(w[b+2*h:], float16.Float32ToF16(r.Float32()*0.02))
		}
	}
	return w
}

// TestPack: in int8 mode a stored Q4_0 or Q4_K matrix of whole 8-row
// groups packs; MatMul and MatMulMany on it give the stored matrix's bits
// on Q4_0 and outputs a float32 rounding apart on Q4_K (whose packed sums
// run in another order), Embed the stored rows' bits; other types, ragged
// groups, float activations and SetRepack(false) keep the matrix as it is,
// and float activations are refused once a matrix is packed.
func TestPack(t *testing.T) {
	for _, typ := range []gguf.Type{gguf.TypeQ4_0, gguf.TypeQ4_K} {
		t.Run(typ.String(), func(t *testing.T) { testPack(t, typ) })
	}
}

func testPack(t *testing.T, typ gguf.Type) {
	if !kernel.CanPack(typ, 8, 256) {
		t.Skipf("no packed %s kernels on this CPU or build", typ)
	}
	r := rand.New(rand.NewPCG(1, 41))
	const rows, cols = 64, 512
	b := New(2)
	defer b.Close()
	if err := b.SetQuantActivations("int8"); err != nil {
		t.Fatal(err)
	}
	stored, _ := b.MatrixStored(typ, randomBlocks(r, typ, rows, cols), rows, cols)
	packed, ok := b.Pack(stored)
	if !ok || !packed.(*Matrix).Packed() || packed.(*Matrix).Stored() != typ {
		t.Fatalf("a 64×512 %s matrix did not pack", typ)
	}
	same := sameBits
	if typ == gguf.TypeQ4_K {
		same = closeTo
	}
	for _, n := range []int{1, 5} {
		x := make(Buffer, n*cols)
		for i := range x {
			x[i] = r.Float32()*2 - 1
		}
		want, got := make(Buffer, n*rows), make(Buffer, n*rows)
		b.MatMul(want, x, stored, n)
		b.MatMul(got, x, packed, n)
		same(t, "MatMul", got, want)
		g1, g2 := make(Buffer, n*rows), make(Buffer, n*rows)
		if b.MatMulMany([]compute.Buffer{g1, g2}, x, []compute.Matrix{packed, stored}, n) {
			same(t, "MatMulMany packed", g1, want)
			sameBits(t, "MatMulMany stored", g2, want)
		} else if n == 1 {
			t.Fatal("MatMulMany declined a lone row")
		}
	}
	tokens := []int32{0, 7, 8, 63}
	want, got := make(Buffer, len(tokens)*cols), make(Buffer, len(tokens)*cols)
	b.Embed(want, stored, tokens)
	b.Embed(got, packed, tokens)
	sameBits(t, "Embed", got, want)

	q8, _ := b.MatrixStored(gguf.TypeQ8_0, make([]byte, rows*cols/32*34), rows, cols)
	ragged, _ := b.MatrixStored(typ, randomBlocks(r, typ, 12, cols), 12, cols)
	for name, m := range map[string]compute.Matrix{"Q8_0": q8, "12 rows": ragged, "packed again": packed} {
		if _, ok := b.Pack(m); ok {
			t.Errorf("%s: packed", name)
		}
	}
	if err := b.SetQuantActivations("float"); err == nil {
		t.Error("float activations accepted after a matrix was packed")
	}
	fb := New(1)
	defer fb.Close()
	if err := fb.SetQuantActivations("float"); err != nil {
		t.Fatal(err)
	}
	fs, _ := fb.MatrixStored(typ, randomBlocks(r, typ, rows, cols), rows, cols)
	if _, ok := fb.Pack(fs); ok {
		t.Error("packed on a backend with float activations")
	}
	nb := New(1)
	defer nb.Close()
	nb.SetRepack(false)
	ns, _ := nb.MatrixStored(typ, randomBlocks(r, typ, rows, cols), rows, cols)
	if _, ok := nb.Pack(ns); ok {
		t.Error("packed after SetRepack(false)")
	}
}

// closeTo fails unless got and want are equal to a few float32 roundings
// of the largest output: packed Q4_K sums the same exact integers in
// another float order.
func closeTo(t *testing.T, what string, got, want []float32) {
	t.Helper()
	var scale float64
	for _, v := range want {
		scale = max(scale, math.Abs(float64(v)))
	}
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*scale || math.IsNaN(float64(got[i])) {
			t.Fatalf("%s: out[%d] = %g, stored rows give %g", what, i, got[i], want[i])
		}
	}
}
