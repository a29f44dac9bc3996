package kernel

// Q2_K weights packed as packed Q6_K's (packq6k.go), row by row: each
// super-block keeps its 84 bytes and its place, the scales (0-15), d and
// dmin (80) as stored, but its 256 two-bit quants are regrouped in the
// same order: group g (0-7) holds at byte b value q6KAt(g, b), so word j
// of every group is a pair of sub-block j's values and the activations
// meet it in actQ8_KT's order. The quants are at most 3, so VPMADDUBSW's
// words are at most 2·3·128 and all eight groups add as int16 (6144)
// before one VPMADDWD by the sixteen scales as words; as stored, each
// group took a VPSHUFB of its scales and its own VPMADDWD.
//
// Half n (groups 4n-4n+3) is 32 bytes at 16+32n: byte b holds group
// 4n+i's quant in bits 2i and 2i+1, as stored Q2_K holds its four
// 32-value runs, so a group costs the same shift and mask as before.
const q2KBytes = 84

func packQ2KBlock(d, s []byte) {
	var v [256]byte
	q2KQuants(&v, s)
	copy(d[:16], s[:16])
	for n := range 2 {
		for b := range 32 {
			var p byte
			for i := range 4 {
				p |= v[q6KAt(4*n+i, b)] << (2 * i)
			}
			d[16+32*n+b] = p
		}
	}
	copy(d[80:], s[80:q2KBytes])
}

func unpackQ2KBlock(d, s []byte) {
	var v [256]byte
	for n := range 2 {
		for b := range 32 {
			for i := range 4 {
				v[q6KAt(4*n+i, b)] = s[16+32*n+b] >> (2 * i) & 3
			}
		}
	}
	copy(d[:16], s[:16])
	for n := range 2 {
		for l := range 32 {
			h := v[128*n+l:]
			d[16+32*n+l] = h[0] | h[32]<<2 | h[64]<<4 | h[96]<<6
		}
	}
	copy(d[80:], s[80:q2KBytes])
}

// q2KQuants writes a stored Q2_K super-block's quants in order (ggml's
// dequantize_row_q2_K): value 32m+l of half n is (qs[32n+l] >> 2m) & 3.
func q2KQuants(v *[256]byte, s []byte) {
	for n := range 2 {
		for m := range 4 {
			for l := range 32 {
				v[128*n+32*m+l] = s[16+32*n+l] >> (2 * m) & 3
			}
		}
	}
}

// dotQ2KPacked is the reference of the packed Q2_K dot (on a row as
// stored, activations as quantizeQ8K makes them): per super-block, lane k
// of eight takes sub-blocks 2k and 2k+1 whole, acc[k] = fma(yd·d,
// Σ sc·(Σ q·x), acc[k]) and then less yd·dmin·Σ mn·bsum, as dotQ2K's
// lanes do, reduced as dotQ2K's.
func dotQ2KPacked(x, w []byte, nb int) float32 {
	var acc [8]float32
	var v [256]byte
	for i := range nb {
		a, b := x[q8KBytes*i:q8KBytes*(i+1)], w[q2KBytes*i:q2KBytes*(i+1)]
		q2KQuants(&v, b)
		yd := actD(a)
		d, dmin := float32(yd*half(b[80:])), float32(yd*half(b[82:]))
		for k := range 8 {
			var s, m int32
			for j := 2 * k; j < 2*k+2; j++ {
				s += int32(b[j]&15) * subBlockDot(&v, a, j)
				m += int32(b[j]>>4) * actBsum(a, j)
			}
			acc[k] = fma32(d, float32(s), acc[k])
			acc[k] = fma32(dmin, float32(-m), acc[k])
		}
	}
	return hsum8(&acc)
}
