//go:build goexperiment.simd && amd64

package kernel

import "simd/archsimd"

// The half-cache attention kernels beside attnScores8 and attnValues8, on
// the same hosts and with the same per-lane FMA order: the assembly widens
// with VCVTPH2PS (F16C), the eight-lane tails with widenF16x8, both exact.
func init() {
	if archsimd.X86.AVX2() && archsimd.X86.FMA() && levelLimit() >= 1 {
		attnScoresF16Impl, attnValuesF16Impl = attnScoresF16x8, attnValuesF16x8
		halfAttnAsm = hasF16C()
	}
}

// halfAttnAsm is whether the CPU has F16C for the assembly; without it the
// eight-lane loops cover every slot and dimension, with the same bits.
var halfAttnAsm bool

//go:noescape
func attnScoresH16(s *float32, q *float32, kT *uint16, ld int, hd4 int, groups int, rem int)

//go:noescape
func attnValuesH64(o *float32, p *float32, v *uint16, np int, hd int, chunks int)

// partF8 widens halves s[i:n], at most eight, to a vector.
func partF8(s []uint16, i, n int) f8 {
	if n-i >= 8 {
		return loadF8(s, i)
	}
	return tailF8(s, i, n)
}

func attnScoresF16x8(s, q []float32, kT []uint16, ld int) {
	n, hd := len(s), len(q)
	j := n &^ 15
	if halfAttnAsm && j > 0 && hd > 0 {
		attnScoresH16(&s[0], &q[0], &kT[0], ld, hd/4, j/16, hd%4)
	} else {
		j = 0
	}
	for ; j < n; j += 8 {
		var a [4]f8
		for d := range hd {
			r := d*ld + j
			a[d&3] = archsimd.BroadcastFloat32x8(q[d]).MulAdd(partF8(kT, r, r+n-j), a[d&3])
		}
		store8(a[0].Add(a[1]).Add(a[2].Add(a[3])), s, j, n)
	}
	archsimd.ClearAVXUpperBits()
}

func attnValuesF16x8(o, p []float32, v []uint16) {
	hd := len(o)
	d := hd &^ 63
	if halfAttnAsm && d > 0 {
		attnValuesH64(&o[0], &p[0], &v[0], len(p), hd, d/64)
	} else {
		d = 0
	}
	for ; d < hd; d += 8 {
		var a f8
		for j, w := range p {
			r := j*hd + d
			a = archsimd.BroadcastFloat32x8(w).MulAdd(partF8(v, r, r+hd-d), a)
		}
		store8(part8(o, d, hd).Add(a), o, d, hd)
	}
	archsimd.ClearAVXUpperBits()
}
