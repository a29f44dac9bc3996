//go:build goexperiment.simd && amd64

package kernel

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"github.com/graft-ai/graft/engine/gguf"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"simd/archsimd"
	"strings"
	"testing"
)

// TestDotKAVX2Installed makes sure the tile tests exercise the assembly
// where the CPU has it, not the reference twice.
func TestDotKAVX2Installed(t *testing.T) {
	if !archsimd.X86.AVX2() || !archsimd.X86.FMA() || !hasF16C() || levelLimit() < 1 {
		t.Skip("no AVX2+FMA+F16C here (or GRAFT_KERNEL_LEVEL=portable): the reference serves")
	}
	for _, typ := range kTypes {
		name := runtime.FuncForPC(reflect.ValueOf(intDots[typ].dot).Pointer()).Name()
		if !strings.Contains(name, "dotkSet") {
			t.Fatalf("%s: dot is %s, want the AVX2 tiles", typ, name)
		}
	}
}

// TestFMA32VFMADD checks the references' software fused multiply-add
// (dot8.go's fma32) against VFMADD231PS, on random operands and on sums that land on a float32
// midpoint in float64 (where rounding twice would be wrong).
func TestFMA32VFMADD(t *testing.T) {
	if !archsimd.X86.AVX2() || !archsimd.X86.FMA() {
		t.Skip("no FMA here")
	}
	r := rand.New(rand.NewPCG(11, 14))
	var a, b, c [8]float32
	check := func() {
		var got [8]float32
		archsimd.LoadFloat32x8(&a).MulAdd(archsimd.LoadFloat32x8(&b), archsimd.LoadFloat32x8(&c)).Store(&got)
		for i := range 8 {
			if want := fma32(a[i], b[i], c[i]); !sameBits(want, got[i]) {
				t.Fatalf("fma32(%v, %v, %v) = %v, VFMADD %v", a[i], b[i], c[i], want, got[i])
			}
		}
	}
	for range 20000 {
		for i := range 8 {
			a[i] = math.Float32frombits(r.Uint32())
			b[i] = math.Float32frombits(r.Uint32())
			c[i] = math.Float32frombits(r.Uint32())
			switch r.IntN(4) {
			case 0: // ties of a float64 sum: c a float32 midpoint-ish, a·b tiny
				a[i], b[i] = float32(1+r.IntN(1<<12)), math.Float32frombits(r.Uint32()&0x80ffffff|0x1f000000)
				c[i] = float32(1 << 24)
				c[i] += float32(r.IntN(8))
			case 1: // nearby magnitudes
				a[i] = float32(r.NormFloat64())
				b[i] = float32(r.NormFloat64())
				c[i] = float32(r.NormFloat64())
			}
		}
		check()
	}
	// constructed ties: 641·6700417 = 2^32+1, so with c = 2^54-3·2^30 the
	// float64 sum rounds onto the float32 midpoint 2^54+2^30 and only the
	// lost +1 says to round up
	a = [8]float32{641, -641, 641}
	b = [8]float32{6700417, 6700417, -6700417}
	c = [8]float32{0x1p54 - 3*0x1p30, -(0x1p54 - 3*0x1p30), 0x1p54 + 0x1p32}
	if naive := float32(float64(a[0])*float64(b[0]) + float64(c[0])); naive == fma32(a[0], b[0], c[0]) {
		t.Fatalf("the tie case does not tie: %v", naive)
	}
	check()
}

// BenchmarkDotK compares, on one thread, the integer K-quant dots with the
// fused float kernels (qdotKernels) on the same weights, in G weights/s:
// "hot" is 256 weight rows of 2048 (in L2), "cold" the 32000×768 output
// layer (from memory); rows is 1 (decode, 1×4 tiles) or 4 (R×1 tiles).
// The activation quantization (once per row of x per matmul) is timed on
// its own. The float runs report the int/float ratio of the pair.
func BenchmarkDotK(b *testing.B) {
	rng := rand.New(rand.NewPCG(12, 14))
	for _, typ := range kTypes {
		fk := qdotKernels[typ]
		for _, s := range []struct {
			name    string
			out, in int
		}{{"hot", 256, 2048}, {"cold", 32000, 768}} {
			w := randomQ(rng, typ, s.out, s.in)
			nb, rb := s.in/256, s.in/256*typ.BlockBytes()
			for _, rows := range []int{1, 4} {
				x := randVec(rng, rows*s.in)
				xq := quantizeRows(x, rows, s.in)
				out := make([]float32, rows*s.out)
				gw := map[string]float64{}
				run := func(kind string, f func()) {
					b.Run(fmt.Sprintf("%s/%s/rows=%d/%s", typ, s.name, rows, kind), func(b *testing.B) {
						for b.Loop() {
							f()
						}
						gw[kind] = float64(rows*s.out*s.in) / (b.Elapsed().Seconds() / float64(b.N)) / 1e9
						b.ReportMetric(gw[kind], "Gw/s")
						if kind == "float" {
							b.ReportMetric(gw["int"]/gw["float"], "int/float")
						}
					})
				}
				dot := intDots[typ].dot
				run("int", func() {
					for c := 0; c < s.out; c += 4 {
						dot(&out[c], s.out, &xq[0], nb*q8KBytes, &w[c*rb], rb, nb, rows, 4)
					}
				})
				if fk != nil {
					run("float", func() {
						for c := 0; c < s.out; c += 4 {
							if rows == 1 {
								fk[0](&out[c], s.out, &x[0], s.in, &w[c*rb], rb, nb)
								continue
							}
							for cc := c; cc < c+4; cc++ {
								fk[5](&out[cc], s.out, &x[0], s.in, &w[cc*rb], rb, nb)
							}
						}
					})
					b.Logf("%s %s rows=%d: int %.2f Gw/s, float %.2f Gw/s, ratio %.2f×", typ, s.name, rows, gw["int"], gw["float"], gw["int"]/gw["float"])
				}
			}
		}
	}
	x := randVec(rng, 2048)
	xq := make([]byte, 8*q8KBytes)
	for _, q := range []struct {
		name string
		f    func([]byte, []float32)
	}{{"reference", quantizeQ8K}, {"avx2", quantizeQ8KAVX2}} {
		b.Run("quantizeQ8K/2048/"+q.name, func(b *testing.B) {
			for b.Loop() {
				q.f(xq, x)
			}
			b.ReportMetric(2048/(b.Elapsed().Seconds()/float64(b.N))/1e9, "Gvalues/s")
		})
	}
}

// ggmlCPU returns the folder of node-llama-cpp's ggml libraries (installed
// by `npm ci --omit=optional` in bench/llamacpp), skipping the test without
// them or without an AVX2 CPU for their haswell build.
func ggmlCPU(t *testing.T) string {
	t.Helper()
	dir, _ := filepath.Abs("../../bench/llamacpp/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64")
	if _, err := os.Stat(filepath.Join(dir, "libggml-cpu-haswell.so")); err != nil {
		t.Skipf("ggml is not installed (%v): run npm ci --omit=optional in bench/llamacpp", err)
	}
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3 to call ggml through ctypes")
	}
	if !archsimd.X86.AVX2() || !archsimd.X86.FMA() || !hasF16C() {
		t.Skip("ggml's haswell build needs AVX2, FMA and F16C")
	}
	return dir
}

// q8kSample draws row r's values: normal activations, heavy tails, values
// so small that -127/max overflows, all positive, all zero, few distinct
// values (magnitude ties, exact halves), NaN among them, an infinity.
func q8kSample(rng *rand.Rand, row, i int) float32 {
	switch row % 8 {
	case 0:
		return float32(rng.NormFloat64())
	case 1:
		v := rng.NormFloat64()
		return float32(v * v * v * 10)
	case 2:
		return float32(rng.NormFloat64() * 1e-38)
	case 3:
		return float32(rng.Float64())
	case 4:
		return 0
	case 5:
		return float32(rng.IntN(9)-4) / 2
	case 6:
		if i%37 == 0 {
			return float32(math.NaN())
		}
		return float32(rng.NormFloat64())
	}
	if i == 300 {
		return float32(math.Inf(-1))
	}
	return float32(rng.NormFloat64())
}

// TestQ8KMatchesGGML checks quantizeQ8K byte for byte against ggml's
// quantize_row_q8_K_ref, and the reference dots against ggml's own AVX2
// dots on the same blocks: equal within float32 rounding (the integer sums
// are the same; only the order of the float terms differs).
func TestQ8KMatchesGGML(t *testing.T) {
	dir := ggmlCPU(t)
	rng := rand.New(rand.NewPCG(13, 14))
	const nb, rows = 3, 48
	n := nb * 256
	var buf []byte
	x := make([]float32, rows*n)
	for r := range rows {
		for i := range n {
			x[r*n+i] = q8kSample(rng, r, i)
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x[r*n+i]))
		}
	}
	ws := make([][]byte, len(kTypes)) // the script's order: Q4_K, Q5_K, Q6_K, Q2_K, Q3_K
	for k, typ := range kTypes {
		ws[k] = randomQ(rng, typ, rows, n)
		buf = append(buf, ws[k]...)
	}
	in, out := filepath.Join(t.TempDir(), "in"), filepath.Join(t.TempDir(), "out")
	if err := os.WriteFile(in, buf, 0o600); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command("/usr/bin/python3", "testdata/ggml_q8k.py", dir, fmt.Sprint(nb), in, out).CombinedOutput(); err != nil {
		t.Fatalf("ggml: %v\n%s", err, msg)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	ref := got[:rows*nb*q8KBytes]
	xq := quantizeRows(x, rows, n)
	for b := 0; b < len(xq); b += q8KBytes {
		if !bytes.Equal(xq[b:b+q8KBytes], ref[b:b+q8KBytes]) {
			t.Fatalf("row %d block %d: Graft\n% x\nggml\n% x", b/q8KBytes/nb, b/q8KBytes%nb, xq[b:b+q8KBytes], ref[b:b+q8KBytes])
		}
	}
	for k, typ := range kTypes {
		w, bb := ws[k], typ.BlockBytes()
		worst := 0.0
		for r := range rows {
			gg := math.Float32frombits(binary.LittleEndian.Uint32(got[len(ref)+4*(k*rows+r):]))
			a, wr := xq[r*nb*q8KBytes:(r+1)*nb*q8KBytes], w[r*nb*bb:(r+1)*nb*bb]
			mine := refDots[typ](a, wr, nb)
			if gg != gg || mine != mine {
				if gg == gg || mine == mine {
					t.Fatalf("%s row %d: Graft %v, ggml %v", typ, r, mine, gg)
				}
				continue
			}
			wf := make([]float32, n)
			if err := gguf.Dequantize(typ, wf, wr); err != nil {
				t.Fatal(err)
			}
			mag := 0.0
			for i := range n {
				mag += math.Abs(float64(wf[i]) * float64(actD(a[i/256*q8KBytes:])) * float64(actQ(a[i/256*q8KBytes:], i%256)))
			}
			diff := math.Abs(float64(mine) - float64(gg))
			if diff > 1e-6*mag {
				t.Fatalf("%s row %d: Graft %v, ggml %v (magnitude %v)", typ, r, mine, gg, mag)
			}
			if mag > 0 {
				worst = max(worst, diff/mag)
			}
		}
		t.Logf("%s: largest |Graft - ggml| / Σ|terms| = %.2g", typ, worst)
	}
}

// TestQuantizeQ8KAVX2 compares the assembly quantizer with the reference,
// byte for byte, on the rows TestQ8KMatchesGGML draws (NaN, Inf, overflowing
// -127/max, ties, zero blocks) and at many scales.
func TestQuantizeQ8KAVX2(t *testing.T) {
	if !archsimd.X86.AVX2() || !archsimd.X86.FMA() || !hasF16C() {
		t.Skip("no AVX2 here")
	}
	rng := rand.New(rand.NewPCG(15, 14))
	const n = 3 * 256
	x := make([]float32, n)
	got, want := make([]byte, 3*q8KBytes), make([]byte, 3*q8KBytes)
	for row := range 400 {
		for i := range x {
			x[i] = q8kSample(rng, row, i) * float32(math.Ldexp(1, rng.IntN(40)-20))
		}
		checkQuantizeAVX2(t, x, got, want)
	}
}

func checkQuantizeAVX2(t *testing.T, x []float32, got, want []byte) {
	t.Helper()
	for i := range got {
		got[i], want[i] = 0x5A, 0x5A
	}
	quantizeQ8K(want, x)
	quantizeQ8KAVX2(got, x)
	if !bytes.Equal(got, want) {
		for b := 0; b < len(got); b += q8KBytes {
			if !bytes.Equal(got[b:b+q8KBytes], want[b:b+q8KBytes]) {
				t.Fatalf("block %d of %v...:\nAVX2      % x\nreference % x", b/q8KBytes, x[b/q8KBytes*256:b/q8KBytes*256+8], got[b:b+q8KBytes], want[b:b+q8KBytes])
			}
		}
	}
}

// FuzzQuantizeQ8K: arbitrary float32 bits, the fuzzed ones repeated over
// two blocks, quantized by the assembly and the reference.
func FuzzQuantizeQ8K(f *testing.F) {
	f.Add([]byte{0, 0, 0x80, 0x3F})
	f.Add([]byte{0, 0, 0x80, 0x7F, 0, 0, 0x80, 0x3F, 1, 0, 0xC0, 0xFF})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0x80})
	f.Fuzz(func(t *testing.T, xb []byte) {
		if !archsimd.X86.AVX2() {
			t.Skip("no AVX2 here")
		}
		x := make([]float32, 512)
		if n := len(xb) / 4; n > 0 {
			for i := range x {
				x[i] = math.Float32frombits(binary.LittleEndian.Uint32(xb[4*((i*5+i/256)%n):]))
			}
		}
		checkQuantizeAVX2(t, x, make([]byte, 2*q8KBytes), make([]byte, 2*q8KBytes))
	})
}
