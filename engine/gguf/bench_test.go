package gguf

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// BenchmarkFloat32 compares decoding a 512x512 tensor per stored type; F32
// is the zero-copy baseline.
func BenchmarkFloat32(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 9))
	x := randomFloats(r, 512*512)
	w := NewWriter()
	types := []Type{TypeF32, TypeF16, TypeBF16, TypeQ8_0}
	for _, typ := range types {
		if err := w.AddTensor(typ.String(), typ, []int{512, 512}, x); err != nil {
			b.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		b.Fatal(err)
	}
	f, err := Parse(buf.Bytes())
	if err != nil {
		b.Fatal(err)
	}
	for _, typ := range types {
		b.Run(typ.String(), func(b *testing.B) {
			b.SetBytes(int64(4 * len(x)))
			for b.Loop() {
				if _, _, err := f.Float32(typ.String()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkQuantizeQ8_0(b *testing.B) {
	x := randomFloats(rand.New(rand.NewPCG(1, 1)), 64*1024)
	dst := make([]byte, len(x)/Q8_0BlockSize*Q8_0BlockBytes)
	b.SetBytes(int64(4 * len(x)))
	for b.Loop() {
		QuantizeQ8_0(dst, x)
	}
}
