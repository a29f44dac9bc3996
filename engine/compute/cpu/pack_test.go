package cpu

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/float16"
	"github.com/graft-ai/graft/engine/gguf"
	"github.com/graft-ai/graft/engine/kernel"
)

// randomQ4_0 is rows×cols random Q4_0 values with small finite scales.
func randomQ4_0(r *rand.Rand, rows, cols int) []byte {
	w := make([]byte, rows*cols/32*18)
	for b := 0; b < len(w); b += 18 {
		binary.LittleEndian.PutUint16(w[b:], float16.Float32ToF16(r.Float32()*0.02))
		for i := 2; i < 18; i++ {
			w[b+i] = byte(r.Uint32())
		}
	}
	return w
}

// TestPack: in int8 mode a stored Q4_0 matrix of whole 8-row groups packs,
// and MatMul, MatMulMany and Embed on it give the stored matrix's bits;
// other types, ragged groups and float activations keep the matrix as it
// is, and float activations are refused once a matrix is packed.
func TestPack(t *testing.T) {
	if !kernel.CanPackQ4_0(8, 32) {
		t.Skip("no packed Q4_0 kernels on this CPU or build")
	}
	r := rand.New(rand.NewPCG(1, 41))
	const rows, cols = 64, 256
	b := New(2)
	defer b.Close()
	if err := b.SetQuantActivations("int8"); err != nil {
		t.Fatal(err)
	}
	stored, _ := b.MatrixStored(gguf.TypeQ4_0, randomQ4_0(r, rows, cols), rows, cols)
	packed, ok := b.Pack(stored)
	if !ok || !packed.(*Matrix).Packed() || packed.(*Matrix).Stored() != gguf.TypeQ4_0 {
		t.Fatal("a 64×256 Q4_0 matrix did not pack")
	}
	for _, n := range []int{1, 5} {
		x := make(Buffer, n*cols)
		for i := range x {
			x[i] = r.Float32()*2 - 1
		}
		want, got := make(Buffer, n*rows), make(Buffer, n*rows)
		b.MatMul(want, x, stored, n)
		b.MatMul(got, x, packed, n)
		sameBits(t, "MatMul", got, want)
		g1, g2 := make(Buffer, n*rows), make(Buffer, n*rows)
		if b.MatMulMany([]compute.Buffer{g1, g2}, x, []compute.Matrix{packed, stored}, n) {
			sameBits(t, "MatMulMany packed", g1, want)
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
	ragged, _ := b.MatrixStored(gguf.TypeQ4_0, randomQ4_0(r, 12, cols), 12, cols)
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
	fs, _ := fb.MatrixStored(gguf.TypeQ4_0, randomQ4_0(r, rows, cols), rows, cols)
	if _, ok := fb.Pack(fs); ok {
		t.Error("packed on a backend with float activations")
	}
}
