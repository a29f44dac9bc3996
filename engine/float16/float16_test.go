package float16

import (
	"math"
	"math/rand/v2"
	"testing"
)

// refF16 decodes a half straight from the IEEE 754 definition in float64,
// sharing no code with the bit-twiddling conversion under test.
func refF16(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	man := float64(h & 0x3ff)
	switch exp {
	case 0x1f:
		if man == 0 {
			return sign * math.Inf(1)
		}
		return math.NaN()
	case 0:
		return sign * man * math.Ldexp(1, -24)
	}
	return sign * (1 + man/1024) * math.Ldexp(1, exp-15)
}

func TestF16ToFloat32Exhaustive(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		got := F16ToFloat32(h)
		want := refF16(h)
		if math.IsNaN(want) {
			bits := math.Float32bits(got)
			if !math.IsNaN(float64(got)) || bits>>31 != uint32(h>>15) || bits&0x7fffff != uint32(h&0x3ff)<<13 {
				t.Fatalf("%#04x: got %#08x, want NaN with same sign and payload", h, bits)
			}
			continue
		}
		if float64(got) != want || math.Signbit(float64(got)) != math.Signbit(want) {
			t.Fatalf("%#04x: got %v, want %v", h, got, want)
		}
	}
}

func TestFloat32ToF16RoundTrip(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		if back := Float32ToF16(F16ToFloat32(h)); back != h {
			if h&0x7c00 == 0x7c00 && h&0x3ff != 0 && back&0x7c00 == 0x7c00 && back&0x3ff != 0 && back&0x8000 == h&0x8000 {
				continue // NaN stays a NaN of the same sign; quieting may set a bit
			}
			t.Fatalf("%#04x -> %v -> %#04x", h, F16ToFloat32(h), back)
		}
	}
}

// TestFloat32ToF16Rounding checks, for every pair of neighbouring finite
// halves, that the float32 midpoint rounds to the even one and that values
// one float32 ulp either side of it round to the nearer one.
func TestFloat32ToF16Rounding(t *testing.T) {
	for _, sign := range []uint16{0, 0x8000} {
		for m := uint16(0); m < 0x7bff; m++ { // the last gap, to inf, is in Specials
			lo, hi := sign|m, sign|(m+1)
			mid := float32((float64(F16ToFloat32(lo)) + float64(F16ToFloat32(hi))) / 2)
			even := lo
			if lo&1 == 1 {
				even = hi
			}
			if got := Float32ToF16(mid); got != even {
				t.Fatalf("midpoint %v of %#04x,%#04x -> %#04x, want %#04x", mid, lo, hi, got, even)
			}
			// Bit steps move the magnitude, so "below" is nearer lo for either sign.
			below := math.Float32frombits(math.Float32bits(mid) - 1)
			above := math.Float32frombits(math.Float32bits(mid) + 1)
			if got := Float32ToF16(below); got != lo {
				t.Fatalf("just inside %#04x: %v -> %#04x", lo, below, got)
			}
			if got := Float32ToF16(above); got != hi {
				t.Fatalf("just inside %#04x: %v -> %#04x", hi, above, got)
			}
		}
	}
}

func TestFloat32ToF16Specials(t *testing.T) {
	cases := []struct {
		f    float32
		want uint16
	}{
		{0, 0},
		{float32(math.Copysign(0, -1)), 0x8000},
		{1, 0x3c00},
		{-2, 0xc000},
		{65504, 0x7bff},
		{65520, 0x7c00}, // halfway past the largest half rounds up to inf
		{65519.99, 0x7bff},
		{1e10, 0x7c00},
		{float32(math.Inf(-1)), 0xfc00},
		{float32(math.Ldexp(1, -24)), 0x0001},
		{float32(math.Ldexp(1, -25)), 0x0000}, // tie between 0 and the first subnormal
		{float32(math.Ldexp(1.0000001, -25)), 0x0001},
		{float32(math.Ldexp(1, -14)), 0x0400},
		{math.SmallestNonzeroFloat32, 0},
	}
	for _, c := range cases {
		if got := Float32ToF16(c.f); got != c.want {
			t.Errorf("Float32ToF16(%v) = %#04x, want %#04x", c.f, got, c.want)
		}
	}
	if h := Float32ToF16(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("NaN -> %#04x, not a NaN", h)
	}
	if h := Float32ToF16(math.Float32frombits(0x7f800001)); h&0x3ff == 0 {
		t.Errorf("NaN with a low payload became infinity: %#04x", h)
	}
}

func TestBF16Exhaustive(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		f := BF16ToFloat32(h)
		if math.Float32bits(f) != uint32(h)<<16 {
			t.Fatalf("%#04x -> %#08x", h, math.Float32bits(f))
		}
		back := Float32ToBF16(f)
		if back != h && !(math.IsNaN(float64(f)) && back|0x40 == h|0x40) {
			t.Fatalf("%#04x round trip gave %#04x", h, back)
		}
	}
}

func TestFloat32ToBF16Rounding(t *testing.T) {
	cases := []struct {
		bits uint32
		want uint16
	}{
		{0x3f800000, 0x3f80},
		{0x3f808000, 0x3f80}, // tie, even stays
		{0x3f818000, 0x3f82}, // tie, odd rounds up
		{0x3f808001, 0x3f81},
		{0x3f807fff, 0x3f80},
		{0x7f7fffff, 0x7f80}, // max float32 rounds to inf
		{0xff800000, 0xff80},
		{0x80000001, 0x8000},
	}
	for _, c := range cases {
		if got := Float32ToBF16(math.Float32frombits(c.bits)); got != c.want {
			t.Errorf("Float32ToBF16(%#08x) = %#04x, want %#04x", c.bits, got, c.want)
		}
	}
	if h := Float32ToBF16(math.Float32frombits(0x7f800001)); h&0x7f != 0x40 || h&0x7f80 != 0x7f80 {
		t.Errorf("NaN with a low payload -> %#04x, want a quiet NaN", h)
	}
}

func TestSlices(t *testing.T) {
	src := []float32{1, -0.5, 3.140625, 65504}
	h := make([]uint16, len(src))
	F32ToF16(h, src)
	back := make([]float32, len(src))
	F16ToF32(back, h)
	for i := range src {
		if back[i] != src[i] {
			t.Errorf("F16 slice %d: %v -> %v", i, src[i], back[i])
		}
	}
	F32ToBF16(h, src[:3])
	BF16ToF32(back, h[:3])
	for i := range 3 {
		if back[i] != src[i] {
			t.Errorf("BF16 slice %d: %v -> %v", i, src[i], back[i])
		}
	}
}

func TestF16SliceMatchesScalar(t *testing.T) {
	src := make([]uint16, 1<<16)
	for i := range src {
		src[i] = uint16(i)
	}
	dst := make([]float32, len(src))
	F16ToF32(dst, src)
	for i, h := range src {
		if math.Float32bits(dst[i]) != math.Float32bits(F16ToFloat32(h)) {
			t.Fatalf("%#04x: slice %v, scalar %v", h, dst[i], F16ToFloat32(h))
		}
	}
}

// BenchmarkF16ToF32 decodes halves of normally distributed values, the
// common case in weights; Scalar is the baseline the table replaces.
func BenchmarkF16ToF32(b *testing.B) {
	src := make([]uint16, 1<<16)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range src {
		src[i] = Float32ToF16(float32(r.NormFloat64()))
	}
	dst := make([]float32, len(src))
	b.Run("Table", func(b *testing.B) {
		b.SetBytes(int64(len(src) * 2))
		for b.Loop() {
			F16ToF32(dst, src)
		}
	})
	b.Run("Scalar", func(b *testing.B) {
		b.SetBytes(int64(len(src) * 2))
		for b.Loop() {
			for i, h := range src {
				dst[i] = F16ToFloat32(h)
			}
		}
	})
}
