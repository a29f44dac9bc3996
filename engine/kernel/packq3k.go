package kernel

// Q3_K weights packed as packed Q2_K's (packq2k.go), row by row: each
// super-block keeps its 110 bytes and its place, the scales (96) and d
// (108) as stored, but its quants are regrouped in packed Q6_K's order
// (group g holds at byte b value q6KAt(g, b); the activations are
// actQ8_KT) as whole unsigned 3-bit values (low | high<<2, at most 7): so
// VPMADDUBSW's words are at most 2·7·128, all eight groups add as int16
// (14336) before one VPMADDWD by the scales as words, and where as stored
// a group's bits came from two places (qs and hmask: five ops, and a
// VPSHUFB of its scales), most groups are now one field of one byte:
//
//	chunk 0 (bytes 0-31):  g0 | g1<<3 | (g2&3)<<6
//	chunk 1 (bytes 32-63): g3 | g4<<3 | (g5&3)<<6
//	chunk 2 (bytes 64-95): g6 | g7<<3 | (g2>>2)<<6 | (g5>>2)<<7
//
// at byte b of each chunk: groups 0, 3 and 6 take one op, 1, 4 and 7 two,
// 2 and 5 five (gen_dotk.py's q3_kp).
const q3KBytes = 110

func packQ3KBlock(d, s []byte) {
	var v [256]byte
	q3KQuants(&v, s)
	for b := range 32 {
		g := func(g int) byte { return v[q6KAt(g, b)] }
		d[b] = g(0) | g(1)<<3 | g(2)&3<<6
		d[32+b] = g(3) | g(4)<<3 | g(5)&3<<6
		d[64+b] = g(6) | g(7)<<3 | g(2)>>2<<6 | g(5)>>2<<7
	}
	copy(d[96:], s[96:q3KBytes])
}

func unpackQ3KBlock(d, s []byte) {
	var v [256]byte
	for b := range 32 {
		c0, c1, c2 := s[b], s[32+b], s[64+b]
		for i, q := range [8]byte{c0, c0 >> 3, c0>>6 | c2>>6&1<<2, c1, c1 >> 3, c1>>6 | c2>>7<<2, c2, c2 >> 3} {
			v[q6KAt(i, b)] = q & 7
		}
	}
	for l := range 32 {
		var h byte
		for n := range 2 {
			var p byte
			for m := range 4 {
				q := v[128*n+32*m+l]
				p |= q & 3 << (2 * m)
				h |= q >> 2 << (4*n + m)
			}
			d[32+32*n+l] = p
		}
		d[l] = h
	}
	copy(d[96:], s[96:q3KBytes])
}

// q3KQuants writes a stored Q3_K super-block's quants in order, unsigned
// (dotQ3K's low | bit<<2): value 32m+l of half n takes bits 2m, 2m+1 of
// qs[32n+l] and bit 4n+m of hmask[l].
func q3KQuants(v *[256]byte, s []byte) {
	for n := range 2 {
		for m := range 4 {
			for l := range 32 {
				v[128*n+32*m+l] = s[32+32*n+l]>>(2*m)&3 | s[l]>>(4*n+m)&1<<2
			}
		}
	}
}

// dotQ3KPacked is the reference of the packed Q3_K dot (on a row as
// stored, activations as quantizeQ8K makes them): per super-block, lane k
// of eight takes sub-blocks 2k and 2k+1 whole, Σ sc·(Σ q·x − 4·bsum), and
// acc[k] = fma(yd·d, float(lane k), acc[k]), reduced as dotQ3K's.
func dotQ3KPacked(x, w []byte, nb int) float32 {
	var acc [8]float32
	var v [256]byte
	for i := range nb {
		a, b := x[q8KBytes*i:q8KBytes*(i+1)], w[q3KBytes*i:q3KBytes*(i+1)]
		q3KQuants(&v, b)
		sc := q3Scales(b[96:108])
		d := float32(actD(a) * half(b[108:]))
		for k := range 8 {
			var s int32
			for j := 2 * k; j < 2*k+2; j++ {
				s += sc[j] * (subBlockDot(&v, a, j) - 4*actBsum(a, j))
			}
			acc[k] = fma32(d, float32(s), acc[k])
		}
	}
	return hsum8(&acc)
}
