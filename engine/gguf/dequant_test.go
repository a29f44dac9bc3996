package gguf

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ggmlBase returns the path of node-llama-cpp's libggml-base.so (installed by
// `npm ci --omit=optional` in bench/llamacpp), skipping the test without it.
func ggmlBase(t testing.TB) string {
	t.Helper()
	p, _ := filepath.Abs("../../bench/llamacpp/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("ggml's reference is not installed (%v): run npm ci --omit=optional in bench/llamacpp", err)
	}
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3 to call ggml through ctypes")
	}
	return p
}

// ggmlName is the suffix of ggml's quantize_* / dequantize_row_* functions.
func ggmlName(t Type) string {
	return strings.ToLower(t.String()[:len(t.String())-1]) + t.String()[len(t.String())-1:]
}

var quantTypes = []Type{TypeQ4_0, TypeQ4_1, TypeQ5_0, TypeQ5_1, TypeQ8_0, TypeQ2_K, TypeQ3_K, TypeQ4_K, TypeQ5_K, TypeQ6_K}

// TestDequantizeMatchesGGML checks every supported type bit for bit against
// ggml's dequantize_row_*: on blocks ggml's own quantizer made from rows of
// several distributions, and on random bytes whose scales include zero,
// subnormals, the largest half, NaN and both infinities.
func TestDequantizeMatchesGGML(t *testing.T) {
	lib := ggmlBase(t)
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(14, 1))
	const rowLen, rows, rawBlocks = 512, 24, 600
	for _, typ := range quantTypes {
		t.Run(typ.String(), func(t *testing.T) {
			in := filepath.Join(dir, typ.String()+".in")
			out := filepath.Join(dir, typ.String()+".out")
			buf := binary.LittleEndian.AppendUint64(nil, rows*rowLen*4)
			for i := range rows * rowLen {
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(sample(r, i/rowLen)))
			}
			buf = append(buf, randomBlocks(r, typ, rawBlocks)...)
			if err := os.WriteFile(in, buf, 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("/usr/bin/python3", "testdata/ggml_quants.py", lib, ggmlName(typ), "512", in, out)
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("ggml: %v\n%s", err, msg)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			nb := rows*rowLen/typ.BlockSize() + rawBlocks
			blocks, ref := got[:nb*typ.BlockBytes()], got[nb*typ.BlockBytes():]
			if quantize := goQuantizers[typ]; quantize != nil {
				checkQuantizer(t, typ, quantize, buf[8:8+rows*rowLen*4], blocks[:rows*rowLen/typ.BlockSize()*typ.BlockBytes()])
			}
			y := make([]float32, nb*typ.BlockSize())
			if err := Dequantize(typ, y, blocks); err != nil {
				t.Fatal(err)
			}
			bad := 0
			for i, v := range y {
				w := math.Float32frombits(binary.LittleEndian.Uint32(ref[4*i:]))
				if math.Float32bits(v) != math.Float32bits(w) && !(v != v && w != w) {
					if bad++; bad <= 5 {
						t.Errorf("value %d (block %d): got %g (%#x), ggml %g (%#x)", i, i/typ.BlockSize(), v, math.Float32bits(v), w, math.Float32bits(w))
					}
				}
			}
			if bad > 0 {
				t.Fatalf("%d of %d values differ from ggml", bad, len(y))
			}
		})
	}
}

// goQuantizers are the encoders Graft has of its own (--quantize).
var goQuantizers = map[Type]func(dst []byte, src []float32){TypeQ8_0: QuantizeQ8_0, TypeQ4_K: QuantizeQ4_K}

// checkQuantizer compares Graft's encoding of the float32 rows in raw with
// the blocks ggml's quantizer made of them, byte for byte.
func checkQuantizer(t *testing.T, typ Type, quantize func([]byte, []float32), raw, want []byte) {
	x := make([]float32, len(raw)/4)
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	got := make([]byte, len(want))
	quantize(got, x)
	bad := 0
	for b := 0; b < len(want); b += typ.BlockBytes() {
		if !bytes.Equal(got[b:b+typ.BlockBytes()], want[b:b+typ.BlockBytes()]) {
			if bad++; bad <= 3 {
				t.Errorf("%s block %d: Graft encodes % x, ggml % x", typ, b/typ.BlockBytes(), got[b:b+typ.BlockBytes()], want[b:b+typ.BlockBytes()])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d %s blocks differ from ggml's quantizer", bad, len(want)/typ.BlockBytes(), typ)
	}
}

// sample draws row r's values from one of several shapes: normal weights,
// heavy tails, tiny magnitudes, all-positive and all-zero rows.
func sample(r *rand.Rand, row int) float32 {
	switch row % 6 {
	case 0:
		return float32(r.NormFloat64() * 0.02)
	case 1:
		return float32(r.NormFloat64() * r.ExpFloat64())
	case 2:
		return float32(r.NormFloat64() * 1e-6)
	case 3:
		return float32(r.Float64() * 3)
	case 4:
		return 0
	}
	return float32(r.NormFloat64() * 100)
}

// specialHalves are scale bit patterns worth hitting on purpose.
var specialHalves = []uint16{0, 0x8000, 0x0001, 0x03ff, 0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x7e00, 0x3c00}

func randomBlocks(r *rand.Rand, typ Type, n int) []byte {
	b := make([]byte, n*typ.BlockBytes())
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	for blk := 0; blk < n; blk++ {
		for _, o := range scaleOffsets[typ] {
			v := uint16(r.Uint32()) & 0x3fff // mostly finite, moderate scales
			if r.IntN(4) == 0 {
				v = specialHalves[r.IntN(len(specialHalves))]
			}
			binary.LittleEndian.PutUint16(b[blk*typ.BlockBytes()+o:], v)
		}
	}
	return b
}

// FuzzDequantize: any bytes of any type decode without panicking, and a
// tensor that passes CheckScales decodes to finite values only.
func FuzzDequantize(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for i, typ := range quantTypes {
		f.Add(uint8(i), randomBlocks(r, typ, 2))
	}
	f.Fuzz(func(t *testing.T, ti uint8, data []byte) {
		typ := quantTypes[int(ti)%len(quantTypes)]
		nb := len(data) / typ.BlockBytes()
		y := make([]float32, nb*typ.BlockSize())
		if err := Dequantize(typ, y, data); err != nil {
			t.Fatal(err)
		}
		if err := Dequantize(typ, make([]float32, (nb+1)*typ.BlockSize()), data); err == nil {
			t.Fatal("a short source was accepted")
		}
		if CheckScales(typ, data[:nb*typ.BlockBytes()]) != nil {
			return
		}
		for i, v := range y {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("%s value %d is %g though every scale is finite", typ, i, v)
			}
		}
	})
}
