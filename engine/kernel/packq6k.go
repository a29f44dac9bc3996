package kernel

import "unsafe"

// Q6_K weights packed so that one vector of scales serves a whole
// super-block: each super-block keeps its 210 bytes and its place, the
// scales (192) and d (208) as stored, but its 256 quants are regrouped.
//
// Group g (0-7) holds, at byte b (0-31), value q6KAt(g, b) = 16·(b/2) +
// 2g + b%2: word j of every group is a pair of sub-block j's values. So
// VPMADDUBSW leaves sub-block j's products in word j of every group, two
// groups' words add as int16 (at most 2·2·63·128 = 32256), and one
// VPMADDWD by the sixteen scales as words (the scales as stored, widened
// once per super-block) puts sub-blocks 2k and 2k+1 in dword k. As
// stored, each 32-value group needed its own scales (a VPSHUFB), its own
// VPMADDWD, and two to four ops to gather its bits from ql and qh.
//
// The quants are 6-bit, unsigned (0-63). Half n (groups 4n-4n+3) is three
// chunks of 32 bytes at 96n: byte b of chunk i holds group 4n+i's quant
// in bits 0-5 and bits 2i and 2i+1 of group 4n+3's in bits 6-7, so that
// three masks make groups 0-2 and six ops group 3 (gen_dotk.py's q6_kp).
//
// The activations meet it in the same order (actQ8_KT: transposeQ8K after
// quantizeQ8K), and each output is dotQ6KPacked's, a rounding apart from
// dotQ6K's: a matrix is packed whole or not at all.
const q6KBytes = 210

// q6KAt is the value at byte b of packed group g.
func q6KAt(g, b int) int { return 16*(b/2) + 2*g + b%2 }

func packQ6KBlock(d, s []byte) {
	var v [256]byte
	q6KQuants(&v, s)
	for n := range 2 {
		for b := range 32 {
			v3 := v[q6KAt(4*n+3, b)]
			for i := range 3 {
				d[96*n+32*i+b] = v[q6KAt(4*n+i, b)] | v3>>(2*i)<<6
			}
		}
	}
	copy(d[192:], s[192:q6KBytes])
}

func unpackQ6KBlock(d, s []byte) {
	var v [256]byte
	for n := range 2 {
		for b := range 32 {
			c := s[96*n+b:]
			v[q6KAt(4*n+3, b)] = c[0]>>6 | c[32]>>6<<2 | c[64]>>6<<4
			for i := range 3 {
				v[q6KAt(4*n+i, b)] = c[32*i] & 0x3f
			}
		}
	}
	for n := range 2 {
		ql, qh, h := d[64*n:], d[128+32*n:], v[128*n:]
		for l := range 32 {
			ql[l] = h[l]&0xf | h[l+64]&0xf<<4
			ql[l+32] = h[l+32]&0xf | h[l+96]&0xf<<4
			qh[l] = h[l]>>4 | h[l+32]>>4<<2 | h[l+64]>>4<<4 | h[l+96]>>4<<6
		}
	}
	copy(d[192:], s[192:q6KBytes])
}

// q6KQuants writes a stored Q6_K super-block's quants, unsigned, in order
// (ggml's dequantize_row_q6_K).
func q6KQuants(v *[256]byte, s []byte) {
	for n := range 2 {
		ql, qh, h := s[64*n:], s[128+32*n:], v[128*n:]
		for l := range 32 {
			h[l] = ql[l]&0xf | qh[l]&3<<4
			h[l+32] = ql[l+32]&0xf | qh[l]>>2&3<<4
			h[l+64] = ql[l]>>4 | qh[l]>>4&3<<4
			h[l+96] = ql[l+32]>>4 | qh[l]>>6&3<<4
		}
	}
}

// transposeQ8K puts the quants of nb Q8_K activation blocks in packed
// Q6_K's order (actQ8_KT): byte 32g+b of a block's quants becomes quant
// q6KAt(g, b). As words, the 16×8 matrix of sub-block j's pair g becomes
// its 8×16 transpose.
func transposeQ8K(xq []byte, nb int) {
	var t [128]uint16
	for i := range nb {
		qs := (*[128]uint16)(unsafe.Pointer(&xq[i*q8KBytes+4]))
		for g := range 8 {
			for j := range 16 {
				t[16*g+j] = qs[8*j+g]
			}
		}
		*qs = t
	}
}

// quantizeQ8KT is quantizeQ8K in actQ8_KT's order.
func quantizeQ8KT(dst []byte, x []float32) {
	quantizeQ8K(dst, x)
	transposeQ8K(dst, len(x)/256)
}

// subBlockDot is Σ q·x over sub-block j (values 16j..16j+15) of the
// unsigned quants v and the Q8_K activation block a.
func subBlockDot(v *[256]byte, a []byte, j int) int32 {
	p := int32(0)
	for t := 16 * j; t < 16*j+16; t++ {
		p += int32(v[t]) * actQ(a, t)
	}
	return p
}

// dotQ6KPacked is the reference of the packed Q6_K dot (on a row as
// stored, activations as quantizeQ8K makes them): per super-block, lane k
// of eight takes sub-blocks 2k and 2k+1 whole, Σ sc·(Σ q·x − 32·bsum),
// and acc[k] = fma(yd·d, float(lane k), acc[k]), reduced as dotQ6K's.
func dotQ6KPacked(x, w []byte, nb int) float32 {
	var acc [8]float32
	var v [256]byte
	for i := range nb {
		a, b := x[q8KBytes*i:q8KBytes*(i+1)], w[q6KBytes*i:q6KBytes*(i+1)]
		q6KQuants(&v, b)
		d := float32(actD(a) * half(b[208:]))
		for k := range 8 {
			var s int32
			for j := 2 * k; j < 2*k+2; j++ {
				s += int32(int8(b[192+j])) * (subBlockDot(&v, a, j) - 32*actBsum(a, j))
			}
			acc[k] = fma32(d, float32(s), acc[k])
		}
	}
	return hsum8(&acc)
}
