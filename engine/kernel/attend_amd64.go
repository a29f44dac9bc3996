//go:build goexperiment.simd && amd64

package kernel

import "simd/archsimd"

// The attention block kernels at 8 lanes with FMA, for AVX2 and AVX-512
// hosts alike (AVX-512 would add lanes, not change a lane's recipe). Their
// own init keeps them out of the level switch the matmul kernels share.
func init() {
	if archsimd.X86.AVX2() && archsimd.X86.FMA() && levelLimit() >= 1 {
		attnScoresImpl, attnValuesImpl = attnScores8, attnValues8
	}
}

//go:noescape
func attnScores16(s *float32, q *float32, kT *float32, ld int, hd4 int, groups int, rem int)

//go:noescape
func attnValues64(o *float32, p *float32, v *float32, np int, hd int, chunks int)

// attnScores8 scores sixteen slots at a time in assembly (two vectors, four
// partial sums each: eight independent FMA chains), then the rest eight at
// a time with partial loads: every lane gets the same FMA sequence either
// way. AttnScores has checked the bounds.
func attnScores8(s, q, kT []float32, ld int) {
	n, hd := len(s), len(q)
	j := n &^ 15
	if j > 0 && hd > 0 {
		attnScores16(&s[0], &q[0], &kT[0], ld, hd/4, j/16, hd%4)
	} else {
		j = 0
	}
	for ; j < n; j += 8 {
		var a [4]f8
		for d := range hd {
			r := d*ld + j
			a[d&3] = archsimd.BroadcastFloat32x8(q[d]).MulAdd(part8(kT, r, r+n-j), a[d&3])
		}
		store8(a[0].Add(a[1]).Add(a[2].Add(a[3])), s, j, n)
	}
	archsimd.ClearAVXUpperBits()
}

// attnValues8 keeps 64 dimensions in eight accumulators while the slots
// stream by (assembly), then the rest eight at a time with partial loads.
func attnValues8(o, p, v []float32) {
	hd := len(o)
	d := hd &^ 63
	if d > 0 {
		attnValues64(&o[0], &p[0], &v[0], len(p), hd, d/64)
	}
	for ; d < hd; d += 8 {
		var a f8
		for j, w := range p {
			r := j*hd + d
			a = archsimd.BroadcastFloat32x8(w).MulAdd(part8(v, r, r+hd-d), a)
		}
		store8(part8(o, d, hd).Add(a), o, d, hd)
	}
	archsimd.ClearAVXUpperBits()
}
