//go:build goexperiment.simd && amd64

package kernel

import "simd/archsimd"

func init() {
	if archsimd.X86.AVX2() && levelLimit() >= 1 {
		sumWordsImpl = sumWords8x4
	}
}

// sumWords8x4 is sumWordsGo with each stream read four words at a time; the
// streams' ends (fewer than four words) are added one by one. Integer sums
// do not depend on the order, so the result is sumWordsGo's.
func sumWords8x4(x []uint64) uint64 {
	n := len(x) / 8
	var a0, a1, a2, a3, a4, a5, a6, a7 archsimd.Uint64x4
	ld := func(i int) archsimd.Uint64x4 { return archsimd.LoadUint64x4((*[4]uint64)(x[i : i+4])) }
	i := 0
	for ; i+4 <= n; i += 4 {
		a0, a1 = a0.Add(ld(i)), a1.Add(ld(n+i))
		a2, a3 = a2.Add(ld(2*n+i)), a3.Add(ld(3*n+i))
		a4, a5 = a4.Add(ld(4*n+i)), a5.Add(ld(5*n+i))
		a6, a7 = a6.Add(ld(6*n+i)), a7.Add(ld(7*n+i))
	}
	var lanes [4]uint64
	a0.Add(a1).Add(a2.Add(a3)).Add(a4.Add(a5).Add(a6.Add(a7))).Store(&lanes)
	archsimd.ClearAVXUpperBits()
	sum := lanes[0] + lanes[1] + lanes[2] + lanes[3]
	for ; i < n; i++ {
		for k := range 8 {
			sum += x[k*n+i]
		}
	}
	return sum
}
