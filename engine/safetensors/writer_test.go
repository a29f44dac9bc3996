package safetensors

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

func TestWriteRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	x := randomFloats(r, 6*7)
	tensors := []TensorData{
		{Name: "z.f32", DType: F32, Shape: []int{6, 7}, Data: x},
		{Name: "a.f16", DType: F16, Shape: []int{6, 7}, Data: x},
		{Name: "b.bf16", DType: BF16, Shape: []int{42}, Data: x},
		{Name: "c.i64", DType: I64, Shape: []int{2}, Raw: make([]byte, 16)},
		{Name: "d.u8", DType: U8, Shape: []int{3}, Raw: []byte{1, 2, 3}},
		{Name: "e.scalar", DType: F32, Shape: []int{}, Data: []float32{9}},
		{Name: "f.empty", DType: F32, Shape: []int{0, 4}, Data: []float32{}},
	}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := WriteFile(path, tensors, map[string]string{"format": "pt", "<k>": "&"}); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Metadata()["<k>"] != "&" {
		t.Errorf("metadata %v", f.Metadata())
	}
	// Largest dtype first, then by name: the reference writer's order.
	var order []string
	for _, ti := range f.Tensors() {
		order = append(order, ti.Name)
		if ti.Offset%ti.DType.Size() != 0 {
			t.Errorf("%s at %d is not aligned to its %d-byte elements", ti.Name, ti.Offset, ti.DType.Size())
		}
	}
	if want := []string{"c.i64", "e.scalar", "f.empty", "z.f32", "b.bf16", "a.f16", "d.u8"}; !slices.Equal(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
	checkFloats(t, f, "z.f32", x, func(v float32) float32 { return v })
	checkFloats(t, f, "a.f16", x, func(v float32) float32 { return float16.F16ToFloat32(float16.Float32ToF16(v)) })
	checkFloats(t, f, "b.bf16", x, func(v float32) float32 { return float16.BF16ToFloat32(float16.Float32ToBF16(v)) })
	if v, shape, err := f.Float32("e.scalar"); err != nil || len(shape) != 0 || !slices.Equal(v, []float32{9}) {
		t.Errorf("scalar: %v %v %v", v, shape, err)
	}
	if _, _, err := f.Float32("c.i64"); err == nil || !strings.Contains(err.Error(), "I64") {
		t.Errorf("I64 to float32: error %v, want one naming I64", err)
	}
	if raw, _, _ := f.Raw("d.u8"); !bytes.Equal(raw, []byte{1, 2, 3}) {
		t.Errorf("raw u8 %v", raw)
	}
}

func checkFloats(t *testing.T, f *File, name string, src []float32, want func(float32) float32) {
	t.Helper()
	got, _, err := f.Float32(name)
	if err != nil || len(got) != len(src) {
		t.Fatalf("%s: %d values, %v", name, len(got), err)
	}
	for i := range src {
		if got[i] != want(src[i]) {
			t.Fatalf("%s[%d] = %v, want %v", name, i, got[i], want(src[i]))
		}
	}
}

func TestWriteHeaderLayout(t *testing.T) {
	var buf bytes.Buffer
	err := Write(&buf, []TensorData{{Name: "w", DType: F32, Shape: []int{2}, Data: []float32{1, 2}}}, map[string]string{"format": "pt"})
	if err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	n := binary.LittleEndian.Uint64(b)
	want := `{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	if n%8 != 0 || strings.TrimRight(string(b[8:8+n]), " ") != want {
		t.Errorf("header %q (%d bytes), want %q padded to 8", b[8:8+n], n, want)
	}
}

func TestWriteRejects(t *testing.T) {
	bad := map[string][]TensorData{
		"dup":          {{Name: "a", DType: F32, Shape: []int{1}, Data: []float32{1}}, {Name: "a", DType: F32, Shape: []int{1}, Data: []float32{1}}},
		"reserved":     {{Name: "__metadata__", DType: F32, Shape: []int{1}, Data: []float32{1}}},
		"count":        {{Name: "a", DType: F32, Shape: []int{2}, Data: []float32{1}}},
		"raw size":     {{Name: "a", DType: I32, Shape: []int{2}, Raw: make([]byte, 7)}},
		"float to I8":  {{Name: "a", DType: I8, Shape: []int{1}, Data: []float32{1}}},
		"dtype":        {{Name: "a", DType: "F4", Shape: []int{2}, Raw: []byte{0}}},
		"bad utf8":     {{Name: "\xff", DType: U8, Shape: []int{1}, Raw: []byte{0}}},
		"negative dim": {{Name: "a", DType: U8, Shape: []int{-1}, Raw: nil}},
	}
	for name, ts := range bad {
		if err := Write(&bytes.Buffer{}, ts, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestWriteMatchesReference rewrites the stories260K checkpoint (made with
// the Python reference writer) from its own tensors and expects its bytes.
func TestWriteMatchesReference(t *testing.T) {
	path := storiesPath(t)
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var tensors []TensorData
	for _, ti := range f.Tensors() {
		raw, _, _ := f.Raw(ti.Name)
		tensors = append(tensors, TensorData{Name: ti.Name, DType: ti.DType, Shape: ti.Shape, Raw: raw})
	}
	var buf bytes.Buffer
	if err := Write(&buf, tensors, f.Metadata()); err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), orig) {
		t.Errorf("rewrite differs from the reference-written file (%d vs %d bytes)", buf.Len(), len(orig))
	}
}

func TestShardedModel(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	a, b, c := randomFloats(r, 8), randomFloats(r, 12), randomFloats(r, 4)
	dir := t.TempDir()
	shards := [][]TensorData{
		{{Name: "layers.0.w", DType: F32, Shape: []int{2, 4}, Data: a}, {Name: "layers.0.b", DType: BF16, Shape: []int{4}, Data: c}},
		{{Name: "layers.1.w", DType: F16, Shape: []int{3, 4}, Data: b}},
	}
	if err := WriteShards(dir, shards, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	m, err := OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if want := []string{"layers.0.b", "layers.0.w", "layers.1.w"}; !slices.Equal(m.Names(), want) {
		t.Errorf("names %v, want %v", m.Names(), want)
	}
	if got, shape, err := m.Float32("layers.0.w"); err != nil || !slices.Equal(got, a) || !slices.Equal(shape, []int{2, 4}) {
		t.Errorf("layers.0.w: %v %v %v", got, shape, err)
	}
	got, _, err := m.Float32("layers.1.w")
	if err != nil || float16.Float32ToF16(b[5]) != float16.Float32ToF16(got[5]) {
		t.Errorf("layers.1.w: %v", err)
	}
	if ti, ok := m.Tensor("layers.0.b"); !ok || ti.DType != BF16 {
		t.Errorf("layers.0.b: %+v", ti)
	}
	if _, _, err := m.Raw("missing"); err == nil {
		t.Error("missing tensor gave no error")
	}
	if m.Metadata()["format"] != "pt" {
		t.Errorf("metadata %v", m.Metadata())
	}
}

func TestOpenModelBadIndex(t *testing.T) {
	cases := map[string]string{
		"escape":      `{"weight_map":{"w":"../model.safetensors"}}`,
		"missing":     `{"weight_map":{"w":"nope.safetensors"}}`,
		"wrong shard": `{"weight_map":{"w":"s1.safetensors","v":"s1.safetensors"}}`,
		"empty":       `{}`,
		"not json":    `{"weight_map":`,
		"both shards": `{"weight_map":{"w":"s1.safetensors","x":"s2.safetensors"}}`,
	}
	for name, idx := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			w := []TensorData{{Name: "w", DType: U8, Shape: []int{1}, Raw: []byte{1}}}
			if err := WriteFile(filepath.Join(dir, "s1.safetensors"), w, nil); err != nil {
				t.Fatal(err)
			}
			if err := WriteFile(filepath.Join(dir, "s2.safetensors"), append(w, TensorData{Name: "x", DType: U8, Shape: []int{1}, Raw: []byte{1}}), nil); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, IndexFile), []byte(idx), 0o644)
			if m, err := OpenModel(dir); err == nil {
				m.Close()
				t.Fatal("opened")
			} else {
				t.Log(err)
			}
		})
	}
	if _, err := OpenModel(t.TempDir()); err == nil || !strings.Contains(err.Error(), "neither") {
		t.Errorf("empty dir: %v", err)
	}
}
