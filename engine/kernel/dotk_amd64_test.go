//go:build goexperiment.simd && amd64

package kernel

import (
	"math"
	"math/rand/v2"
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

// TestFMA32 checks the reference's software fused multiply-add against
// VFMADD231PS, on random operands and on sums that land on a float32
// midpoint in float64 (where rounding twice would be wrong).
func TestFMA32(t *testing.T) {
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
