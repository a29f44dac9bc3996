package kernel

// Q4_K weights packed eight rows to a super-block: the layout of
// MatMulPacked on Q4_K.
//
// Group g holds rows 8g..8g+7, super-block after super-block; super-block
// b of a group is 1184 bytes:
//
//	0    the eight rows' f16 d
//	16   the eight rows' f16 dmin
//	32   the 6-bit scales as bytes, 16 per sub-block pair (2p, 2p+1): sc[2p]
//	     of rows 0-3, sc[2p+1] of rows 0-3, sc[2p] of rows 4-7, sc[2p+1]
//	     of rows 4-7 (so that one VPMOVZXBW and two unpacks make each
//	     sub-block's scales words, each row's twice)
//	96   the mins, likewise
//	160  32 chunks of 32 bytes: chunk 8j+k holds quant bytes 32j+4k ..
//	     32j+4k+3 of each row (row r at 4r): values 64j+4k.. of sub-block
//	     2j in the low nibbles, of 2j+1 in the high
//
// That is 32 bytes more than the eight rows as stored (2.8%): the scales
// unpacked, which the kernels of the rows as stored unpack with a dozen
// scalar operations per row and super-block (gen_q4kx8.py).
const (
	q4KBytes      = 144
	q4KGroupBytes = 1184
	q4KRowBytes   = q4KGroupBytes / packRows // a row's share of a group
)

func packQ4_Kx8(dst, src []byte, rows, cols int) {
	nb := cols / 256
	for g := 0; g < rows; g += packRows {
		for b := range nb {
			d := dst[(g*nb+packRows*b)*q4KRowBytes:][:q4KGroupBytes]
			for r := range packRows {
				s := src[((g+r)*nb+b)*q4KBytes:][:q4KBytes]
				copy(d[2*r:2*r+2], s[0:2])
				copy(d[16+2*r:16+2*r+2], s[2:4])
				for sb := range 8 {
					sc, mn := k4ScaleMin(sb, s[4:16])
					at := packedScaleAt(sb, r)
					d[32+at], d[96+at] = sc, mn
				}
				for c := range 32 {
					copy(d[160+32*c+4*r:][:4], s[16+4*c:][:4])
				}
			}
		}
	}
}

// packedScaleAt is where the scale of sub-block sb of row r lies in a
// packed super-block's 64 scale bytes.
func packedScaleAt(sb, r int) int { return 16*(sb/2) + 8*(r/4) + 4*(sb%2) + r%4 }

func unpackQ4_Kx8Row(dst, w []byte, row, cols int) {
	nb := cols / 256
	r := row % packRows
	for b := range nb {
		s := w[(row/packRows*nb+b)*q4KGroupBytes:][:q4KGroupBytes]
		d := dst[b*q4KBytes:][:q4KBytes]
		copy(d[0:2], s[2*r:])
		copy(d[2:4], s[16+2*r:])
		var sc, mn [8]byte
		for sb := range 8 {
			sc[sb], mn[sb] = s[32+packedScaleAt(sb, r)], s[96+packedScaleAt(sb, r)]
		}
		putK4ScaleMin(d[4:16], &sc, &mn)
		for c := range 32 {
			copy(d[16+4*c:][:4], s[160+32*c+4*r:])
		}
	}
}

// putK4ScaleMin is k4ScaleMin's inverse: the 12 bytes of eight 6-bit
// scales and mins (ggml's packing in quantize_row_q4_K_ref).
func putK4ScaleMin(q []byte, sc, mn *[8]byte) {
	for j := range 4 {
		q[j], q[j+4] = sc[j], mn[j]
	}
	for j := 4; j < 8; j++ {
		q[j+4] = sc[j]&0xf | mn[j]<<4
		q[j-4] |= sc[j] >> 4 << 6
		q[j] |= mn[j] >> 4 << 6
	}
}

// dotQ4KPacked is the reference of the packed Q4_K dot (on a row as
// stored): per super-block the exact integer sums of all eight sub-blocks,
// Σ sc·q·x and Σ mn·(B[2t]+B[2t+1]), then
//
//	acc = fma(yd·d, float(Σ sc·q·x), acc); acc = fma(yd·dmin, float(-Σ mn·B), acc)
//
// one lane per row, the order every packed kernel follows. It is not
// dotQ4K's (eight lanes a row, gen_dotk.py), so packed and stored weights
// give outputs a rounding apart: a matrix is packed whole or not at all.
func dotQ4KPacked(x, w []byte, nb int) float32 {
	var acc float32
	for i := range nb {
		a, b := x[q8KBytes*i:q8KBytes*(i+1)], w[q4KBytes*i:q4KBytes*(i+1)]
		var isum, msum int32
		for sb := range 8 {
			sc, mn := k4ScaleMin(sb, b[4:16])
			q := b[16+32*(sb/2):]
			p := int32(0)
			for t := range 32 {
				v := q[t] & 0xf
				if sb%2 == 1 {
					v = q[t] >> 4
				}
				p += int32(v) * actQ(a, 32*sb+t)
			}
			isum += int32(sc) * p
			msum += int32(mn) * (actBsum(a, 2*sb) + actBsum(a, 2*sb+1))
		}
		yd := actD(a)
		acc = fma32(float32(yd*half(b)), float32(isum), acc)
		acc = fma32(float32(yd*half(b[2:])), float32(-msum), acc)
	}
	return acc
}
