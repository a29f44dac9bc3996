package gguf

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/graft-ai/graft/internal/testmodels"
)

// fuzzSeeds are the f.Add seeds; the committed corpus in
// testdata/fuzz/FuzzParse holds the same inputs plus the real file's header
// region (regenerate with GGUF_WRITE_CORPUS=1 go test -run TestWriteFuzzCorpus).
func fuzzSeeds(t testing.TB) [][]byte {
	seeds := [][]byte{smallModel(t)}
	for _, name := range slices.Sorted(mapsKeys(hostileCases())) {
		seeds = append(seeds, hostileCases()[name].b)
	}
	return seeds
}

func mapsKeys[M ~map[string]V, V any](m M) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// smallModel is a writer output with every metadata and tensor type used.
func smallModel(t testing.TB) []byte {
	w := NewWriter()
	w.SetString("general.architecture", "llama")
	w.SetUint32("llama.block_count", 1)
	w.SetStrings("tokenizer.ggml.tokens", []string{"<unk>", "a"})
	for _, kv := range []struct {
		k string
		v any
	}{{"i8", int8(-1)}, {"u16", uint16(2)}, {"b", true}, {"f64", 1.5}, {"i32s", []int32{1, 2}},
		{"nested", []Array{{Elem: TypeFloat32, Values: []float32{1}}}}} {
		if err := w.Set(kv.k, kv.v); err != nil {
			t.Fatal(err)
		}
	}
	x := make([]float32, 64)
	for i := range x {
		x[i] = float32(i) - 20
	}
	for _, typ := range []Type{TypeF32, TypeF16, TypeBF16, TypeQ8_0} {
		if err := w.AddTensor(typ.String(), typ, []int{2, 32}, x); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Parse(data)
		if err != nil {
			return
		}
		exercise(t, g)
		reencode(t, g)
	})
}

// exercise touches every accessor so a bad index surfaces as a panic.
func exercise(t *testing.T, g *File) {
	for _, k := range g.Keys() {
		g.String(k)
		g.Uint(k)
		g.Int(k)
		g.Float(k)
		g.Strings(k)
		g.Float32s(k)
		g.Int32s(k)
	}
	for _, ti := range g.Tensors() {
		raw, _, err := g.Raw(ti.Name)
		if err != nil || len(raw) != ti.Size {
			t.Fatalf("Raw(%q): %d bytes, %v; info says %d", ti.Name, len(raw), err, ti.Size)
		}
		v, shape, err := g.Float32(ti.Name)
		if err == nil && (len(v) != ti.Elements() || len(shape) != len(ti.Dims)) {
			t.Fatalf("Float32(%q): %d values shape %v for %+v", ti.Name, len(v), shape, ti)
		}
	}
}

// reencode writes a parsed file back out; when the writer accepts it, the
// result must parse to the same keys and tensors.
func reencode(t *testing.T, g *File) {
	w := NewWriter()
	for _, kv := range g.KVs() {
		if w.Set(kv.Key, kv.Value) != nil {
			t.Fatalf("writer rejects parsed value %q %#v", kv.Key, kv.Value)
		}
	}
	for _, ti := range g.Tensors() {
		raw, _, _ := g.Raw(ti.Name)
		if err := w.AddRawTensor(ti.Name, ti.Type, ti.Shape(), raw); err != nil {
			t.Fatalf("writer rejects parsed tensor %+v: %v", ti, err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		return // e.g. general.alignment stored as a type the writer refuses
	}
	h, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatalf("re-encoded file does not parse: %v", err)
	}
	if !slices.Equal(h.Keys(), g.Keys()) || len(h.Tensors()) != len(g.Tensors()) {
		t.Fatal("re-encoded file differs")
	}
	for i, ti := range g.Tensors() {
		a, _, _ := g.Raw(ti.Name)
		b, _, _ := h.Raw(ti.Name)
		if h.Tensors()[i].Name != ti.Name || !bytes.Equal(a, b) {
			t.Fatalf("tensor %q differs after re-encoding", ti.Name)
		}
	}
}

func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("GGUF_WRITE_CORPUS") == "" {
		t.Skip("set GGUF_WRITE_CORPUS=1 to regenerate testdata/fuzz/FuzzParse")
	}
	real := openStories(t)
	path := testmodels.Path(t, "stories260K", "gguf", "stories260K.gguf")
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	seeds := append(fuzzSeeds(t), whole[:real.DataOffset()])
	dir := filepath.Join("testdata", "fuzz", "FuzzParse")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
