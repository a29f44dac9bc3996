package safetensors

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// fuzzSeeds are the f.Add seeds; testdata/fuzz/FuzzParse holds the same
// inputs plus the stories260K adapter (regenerate with
// SAFETENSORS_WRITE_CORPUS=1 go test -run TestWriteFuzzCorpus).
func fuzzSeeds(t testing.TB) [][]byte {
	var buf bytes.Buffer
	err := Write(&buf, []TensorData{
		{Name: "w", DType: F32, Shape: []int{2, 2}, Data: []float32{1, 2, 3, 4}},
		{Name: "h", DType: F16, Shape: []int{3}, Data: []float32{1, -2, 0.5}},
		{Name: "b", DType: BF16, Shape: []int{1}, Data: []float32{3}},
		{Name: "i", DType: I64, Shape: []int{1}, Raw: make([]byte, 8)},
	}, map[string]string{"format": "pt"})
	if err != nil {
		t.Fatal(err)
	}
	seeds := [][]byte{buf.Bytes()}
	cases := hostileCases()
	for _, name := range slices.Sorted(maps.Keys(cases)) {
		seeds = append(seeds, cases[name].b)
	}
	return seeds
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := Parse(data)
		if err != nil {
			return
		}
		var tensors []TensorData
		for _, ti := range st.Tensors() {
			raw, _, err := st.Raw(ti.Name)
			if err != nil || len(raw) != ti.Size || ti.Elements()*ti.DType.Size() != ti.Size {
				t.Fatalf("Raw(%q): %d bytes, %v; info %+v", ti.Name, len(raw), err, ti)
			}
			if v, _, err := st.Float32(ti.Name); err == nil && len(v) != ti.Elements() {
				t.Fatalf("Float32(%q): %d values for %+v", ti.Name, len(v), ti)
			}
			tensors = append(tensors, TensorData{Name: ti.Name, DType: ti.DType, Shape: ti.Shape, Raw: raw})
		}
		// Whatever parses must survive a rewrite with the same content.
		var buf bytes.Buffer
		if err := Write(&buf, tensors, st.Metadata()); err != nil {
			t.Fatalf("rewrite: %v", err)
		}
		again, err := Parse(buf.Bytes())
		if err != nil {
			t.Fatalf("rewritten file does not parse: %v", err)
		}
		for _, ti := range st.Tensors() {
			a, _, _ := st.Raw(ti.Name)
			b, tj, err := again.Raw(ti.Name)
			if err != nil || !bytes.Equal(a, b) || !slices.Equal(ti.Shape, tj.Shape) || ti.DType != tj.DType {
				t.Fatalf("tensor %q changed in the rewrite: %v", ti.Name, err)
			}
		}
		if !maps.Equal(st.Metadata(), again.Metadata()) {
			t.Fatalf("metadata changed: %v -> %v", st.Metadata(), again.Metadata())
		}
	})
}

func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("SAFETENSORS_WRITE_CORPUS") == "" {
		t.Skip("set SAFETENSORS_WRITE_CORPUS=1 to regenerate testdata/fuzz/FuzzParse")
	}
	adapter, err := os.ReadFile(adapterPath(t))
	if err != nil {
		t.Fatal(err)
	}
	seeds := append(fuzzSeeds(t), adapter)
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
