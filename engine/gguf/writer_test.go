package gguf

import (
	"bytes"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/graft-ai/graft/engine/float16"
)

func randomFloats(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

func TestWriterRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	data := randomFloats(r, 3*64)
	w := NewWriter()
	w.SetString("general.architecture", "llama")
	w.SetUint32("llama.block_count", 5)
	w.SetFloat32("llama.rope.freq_base", 10000)
	w.SetStrings("tokenizer.ggml.tokens", []string{"a", "", "ü"})
	meta := map[string]any{
		"u8": uint8(200), "i8": int8(-3), "u16": uint16(60000), "i16": int16(-30000),
		"i32": int32(-7), "u64": uint64(math.MaxUint64), "i64": int64(math.MinInt64),
		"f64": 2.5, "b": true, "i32s": []int32{1, -2, 3}, "f32s": []float32{0.5, -1},
		"bools": []bool{true, false}, "empty": []uint8{},
		"nested": []Array{{Elem: TypeString, Values: []string{"x"}}, {Elem: TypeUint16, Values: []uint16{9}}},
	}
	keys := []string{"u8", "i8", "u16", "i16", "i32", "u64", "i64", "f64", "b", "i32s", "f32s", "bools", "empty", "nested"}
	for _, k := range keys {
		if err := w.Set(k, meta[k]); err != nil {
			t.Fatal(err)
		}
	}
	for _, typ := range []Type{TypeF32, TypeF16, TypeBF16, TypeQ8_0} {
		if err := w.AddTensor("t."+typ.String(), typ, []int{3, 64}, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.AddTensor("scalar", TypeF32, nil, []float32{7}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	wantKeys := append([]string{"general.architecture", "llama.block_count", "llama.rope.freq_base", "tokenizer.ggml.tokens"}, keys...)
	if !slices.Equal(f.Keys(), wantKeys) {
		t.Errorf("keys %v, want %v", f.Keys(), wantKeys)
	}
	for _, k := range keys {
		kv, _ := f.Value(k)
		if !sameValue(kv.Value, meta[k]) {
			t.Errorf("%s = %#v, want %#v", k, kv.Value, meta[k])
		}
	}
	if u, ok := f.Uint("u64"); !ok || u != math.MaxUint64 {
		t.Errorf("Uint(u64) = %d, %v", u, ok)
	}
	if _, ok := f.Uint("i8"); ok {
		t.Error("Uint accepted a negative value")
	}
	if i, ok := f.Int("i16"); !ok || i != -30000 {
		t.Errorf("Int(i16) = %d, %v", i, ok)
	}
	if s, _ := f.Strings("tokenizer.ggml.tokens"); !slices.Equal(s, []string{"a", "", "ü"}) {
		t.Errorf("tokens %q", s)
	}
	checkTensorRoundTrip(t, f, data)
	if v, shape, err := f.Float32("scalar"); err != nil || len(shape) != 0 || !slices.Equal(v, []float32{7}) {
		t.Errorf("scalar: %v %v %v", v, shape, err)
	}
}

func checkTensorRoundTrip(t *testing.T, f *File, data []float32) {
	t.Helper()
	for _, typ := range []Type{TypeF32, TypeF16, TypeBF16, TypeQ8_0} {
		name := "t." + typ.String()
		got, shape, err := f.Float32(name)
		if err != nil || !slices.Equal(shape, []int{3, 64}) {
			t.Fatalf("%s: shape %v err %v", name, shape, err)
		}
		ti, _ := f.Tensor(name)
		if ti.Offset%32 != 0 || (f.DataOffset()+ti.Offset)%32 != 0 {
			t.Errorf("%s at %d is not 32-byte aligned", name, ti.Offset)
		}
		for i, x := range data {
			var want float32
			switch typ {
			case TypeF32:
				want = x
			case TypeF16:
				want = float16.F16ToFloat32(float16.Float32ToF16(x))
			case TypeBF16:
				want = float16.BF16ToFloat32(float16.Float32ToBF16(x))
			case TypeQ8_0:
				want = got[i] // bounded separately in TestQ8_0ErrorBound
			}
			if got[i] != want {
				t.Fatalf("%s[%d] = %v, want %v", name, i, got[i], want)
			}
		}
	}
}

func sameValue(a, b any) bool {
	switch x := a.(type) {
	case Array:
		y, ok := b.(Array)
		if !ok {
			ya, ok := arrayOf(b)
			if !ok {
				return false
			}
			y = ya
		}
		return sameArray(x, y)
	}
	return a == b
}

func sameArray(x, y Array) bool {
	if x.Elem != y.Elem || x.Len() != y.Len() {
		return false
	}
	if xs, ok := x.Values.([]Array); ok {
		ys := y.Values.([]Array)
		for i := range xs {
			if !sameArray(xs[i], ys[i]) {
				return false
			}
		}
		return true
	}
	var bx, by bytes.Buffer
	(&encoder{w: &countingWriter{w: &bx}}).elements(x.Values)
	(&encoder{w: &countingWriter{w: &by}}).elements(y.Values)
	return bytes.Equal(bx.Bytes(), by.Bytes())
}

// TestQ8_0Golden pins llama.cpp's rounding: d = max|x|/127 and roundf, which
// rounds halves away from zero (round-half-even would give 0, 0, 2, -2).
func TestQ8_0Golden(t *testing.T) {
	x := make([]float32, 32)
	copy(x, []float32{127, 0.5, -0.5, 1.5, 2.5, -2.5, -127, 0.49})
	blk := make([]byte, Q8_0BlockBytes)
	QuantizeQ8_0(blk, x)
	want := []byte{0x00, 0x3c, 127, 1, 0xff, 2, 3, 0xfd, 0x81, 0}
	if !bytes.Equal(blk[:len(want)], want) {
		t.Errorf("block % x, want % x", blk[:len(want)], want)
	}
	zero := make([]byte, Q8_0BlockBytes)
	QuantizeQ8_0(zero, make([]float32, 32))
	if !bytes.Equal(zero, make([]byte, Q8_0BlockBytes)) {
		t.Errorf("all-zero block encodes as % x", zero)
	}
}

// TestQ8_0ErrorBound: rounding to the nearest quant costs at most d/2, and
// storing d as F16 at most 127 times F16's rounding error of d: relative
// 2^-11 for normal halves, absolute 2^-25 once d is subnormal (tiny blocks).
func TestQ8_0ErrorBound(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	x := randomFloats(r, 32*200)
	for i := range x {
		x[i] *= float32(math.Pow(10, float64(i/32%9-4))) // a spread of block scales
	}
	q := make([]byte, len(x)/32*Q8_0BlockBytes)
	QuantizeQ8_0(q, x)
	y := make([]float32, len(x))
	DequantizeQ8_0(y, q)
	for b := 0; b < len(x)/32; b++ {
		var amax float64
		for _, v := range x[b*32 : b*32+32] {
			amax = max(amax, math.Abs(float64(v)))
		}
		d := amax / 127
		bound := (d/2 + 127*max(d/2048, math.Ldexp(1, -25))) * (1 + 1e-6)
		for j := b * 32; j < b*32+32; j++ {
			if e := math.Abs(float64(x[j]) - float64(y[j])); e > bound {
				t.Fatalf("block %d elem %d: |%v - %v| = %g > %g", b, j, x[j], y[j], e, bound)
			}
		}
	}
}

func TestWriterRejects(t *testing.T) {
	w := NewWriter()
	if err := w.AddTensor("a", TypeQ8_0, []int{2, 16}, make([]float32, 32)); err == nil {
		t.Error("Q8_0 row of 16 accepted")
	}
	if err := w.AddTensor("a", TypeF32, []int{2, 3}, make([]float32, 5)); err == nil {
		t.Error("wrong data length accepted")
	}
	if err := w.AddTensor("a", TypeQ4_0, []int{32}, make([]float32, 32)); err == nil {
		t.Error("float32 encode to Q4_0 accepted")
	}
	if err := w.AddTensor("a", TypeF32, []int{1}, []float32{1}); err != nil {
		t.Fatal(err)
	}
	if err := w.AddTensor("a", TypeF32, []int{1}, []float32{1}); err == nil {
		t.Error("duplicate tensor accepted")
	}
	if err := w.Set("k", struct{}{}); err == nil {
		t.Error("unsupported metadata type accepted")
	}
	if err := w.Set("k", Array{Elem: TypeString, Values: []int32{1}}); err == nil {
		t.Error("mislabelled array accepted")
	}
}

func TestWriterAlignment(t *testing.T) {
	w := NewWriter()
	w.SetUint32("general.alignment", 64)
	for _, n := range []string{"a", "b"} {
		if err := w.AddTensor(n, TypeF32, []int{3}, []float32{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := f.Tensor("b")
	if f.Alignment != 64 || b.Offset != 64 || f.DataOffset()%64 != 0 {
		t.Errorf("alignment %d, b at %d, data at %d", f.Alignment, b.Offset, f.DataOffset())
	}
}
