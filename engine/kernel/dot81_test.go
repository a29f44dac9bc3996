package kernel

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/graft-ai/graft/engine/gguf"
)

// q81Terms is what TestMatMulQ8 needs beyond the dequantized activations
// for a type meeting Q8_1 activations (weights d·q + m): corr, the m·s
// terms' departure from m times the dequantized activations' sum (s is a
// half of d·Σq with d in float32, not its half), and the bound against
// float x. That bound is quantBound's on the d·q part of the weights; on
// the m part each value may be half a step off (s takes d in float32,
// unrounded), and s is rounded to a half.
func q81Terms(t gguf.Type, x []float32, xq, w []byte, wf []float32) (corr, bound float64) {
	bb := t.BlockBytes()
	for b := range len(x) / 32 {
		blk, wb := xq[b*q8_1Bytes:], w[b*bb:]
		d16, s, m := float64(half(blk)), float64(half(blk[2:])), float64(half(wb[2:]))
		var sumq, amax, wsum float64
		for k := range 32 {
			sumq += float64(int8(blk[4+k]))
			amax = max(amax, math.Abs(float64(x[b*32+k])))
			wsum += math.Abs(float64(wf[b*32+k]) - m)
		}
		corr += m * (s - d16*sumq)
		d := amax / 127
		bound += wsum*0.5625*d + math.Abs(m)*(16*d+math.Abs(s)*0x1p-11)
	}
	return corr, bound
}

// ggmlBins is node-llama-cpp's directory of ggml builds (bench/llamacpp,
// npm ci --omit=optional), or a skip without it or python3.
func ggmlBins(t *testing.T) string {
	t.Helper()
	p, _ := filepath.Abs("../../bench/llamacpp/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64")
	if _, err := os.Stat(filepath.Join(p, "libggml-cpu-haswell.so")); err != nil {
		t.Skipf("ggml is not installed (%v): run npm ci --omit=optional in bench/llamacpp", err)
	}
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3 to call ggml through ctypes")
	}
	if !cpuHasAVX2FMA() {
		t.Skip("ggml's AVX2 build needs AVX2 and FMA")
	}
	return p
}

// TestDot81MatchesGGML: quantizeQ8_1Act writes the bytes of ggml's
// quantize_row_q8_1_ref, and every Q4_1 and Q5_1 output of MatMulQ8 (the
// kernels in use, of every tile shape its calls take) has the bits of
// ggml's AVX2 dot on the same blocks, on rows of several magnitudes with
// zeros, ties and an all-zero block, and on weights whose scales include
// zero, subnormals and the largest half.
func TestDot81MatchesGGML(t *testing.T) {
	bins := ggmlBins(t)
	r := rand.New(rand.NewPCG(81, 1))
	const R, C, n = 5, 13, 256
	for _, typ := range []gguf.Type{gguf.TypeQ4_1, gguf.TypeQ5_1} {
		x := randomX(r, R*n)
		for i := range x {
			x[i] *= float32(math.Ldexp(1, 8*(i/n)-16))
		}
		x[3] = 0
		// row 0's values are below 2^-12, so this block's amax is 127, d
		// and 1/d are 1, and x.5 values are rounding ties
		x[32], x[40], x[41] = 127, 3.5, -2.5
		clear(x[n+64 : n+96]) // an all-zero block
		w := randomQ(r, typ, C, n)
		halves := []uint16{0, 0x8000, 0x0001, 0x03ff, 0x7bff, 0xfbff}
		for i := 0; i < len(w); i += 7 * typ.BlockBytes() {
			binary.LittleEndian.PutUint16(w[i+2*r.IntN(2):], halves[r.IntN(len(halves))])
		}
		in := binary.LittleEndian.AppendUint32(nil, R)
		in = binary.LittleEndian.AppendUint32(in, C)
		for _, v := range x {
			in = binary.LittleEndian.AppendUint32(in, math.Float32bits(v))
		}
		in = append(in, w...)
		dir := t.TempDir()
		inPath, outPath := filepath.Join(dir, "in"), filepath.Join(dir, "out")
		if err := os.WriteFile(inPath, in, 0o600); err != nil {
			t.Fatal(err)
		}
		name := strings.ToLower(typ.String())
		if msg, err := exec.Command("/usr/bin/python3", "testdata/ggml_dot81.py", bins, name, fmt.Sprint(n), inPath, outPath).CombinedOutput(); err != nil {
			t.Fatalf("ggml: %v\n%s", err, msg)
		}
		out, err := os.ReadFile(outPath)
		if err != nil {
			t.Fatal(err)
		}
		act := make([]byte, R*n/32*q8_1Bytes)
		for ro := range R {
			quantizeQ8_1Act(act[ro*n/32*q8_1Bytes:(ro+1)*n/32*q8_1Bytes], x[ro*n:(ro+1)*n])
		}
		if !slices.Equal(act, out[:len(act)]) {
			t.Fatalf("%s: Q8_1 activations differ from ggml's quantize_row_q8_1_ref", typ)
		}
		got := make([]float32, R*C)
		MatMulQ8(nil, got, x, w, typ, R, n, C)
		for i := range got {
			want := math.Float32frombits(binary.LittleEndian.Uint32(out[len(act)+4*i:]))
			if math.Float32bits(got[i]) != math.Float32bits(want) {
				t.Errorf("%s: out[%d][%d] = %g, ggml %g", typ, i/C, i%C, got[i], want)
			}
		}
		for ro := range R { // and a row alone, as decode meets it
			alone := make([]float32, C)
			MatMulQ8(nil, alone, x[ro*n:(ro+1)*n], w, typ, 1, n, C)
			for c, a := range alone {
				if math.Float32bits(a) != math.Float32bits(got[ro*C+c]) {
					t.Fatalf("%s: out[%d][%d] alone is %g, %g in the batch", typ, ro, c, a, got[ro*C+c])
				}
			}
		}
	}
}

// cpuHasAVX2FMA reads /proc/cpuinfo: ggml's haswell build runs only with
// AVX2, FMA and F16C.
func cpuHasAVX2FMA() bool {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return false
	}
	flags := strings.Fields(string(b))
	return slices.Contains(flags, "avx2") && slices.Contains(flags, "fma") && slices.Contains(flags, "f16c")
}
