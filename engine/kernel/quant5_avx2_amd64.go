//go:build goexperiment.simd && amd64

package kernel

import (
	"encoding/binary"
	"simd/archsimd"

	"github.com/graft-ai/graft/engine/gguf"
)

// AVX2 rows for Q4_1, Q5_0, Q5_1, Q5_K, Q2_K and Q3_K. They unpack a weight block per
// activation row (tiles loop over rows), so only the four common formats of
// quant_avx2_amd64.go unpack once per tile.

func useQuant5AVX2() {
	for t, row := range map[gguf.Type]func([]float32, *qacts, int, int, []byte){
		gguf.TypeQ4_1: q4_1x8Row, gguf.TypeQ5_0: q5_0x8Row, gguf.TypeQ5_1: q5_1x8Row, gguf.TypeQ5_K: q5_Kx8Row,
		gguf.TypeQ2_K: q2_Kx8Row, gguf.TypeQ3_K: q3_Kx8Row,
	} {
		qKernels[t] = &qTiles{rows: qRows, tile: func(out []float32, ldo int, a *qacts, r, nr, in int, w []byte) {
			for i := range nr {
				row(out[i*ldo:], a, r+i, in, w)
			}
		}}
	}
}

var (
	// bitIndex picks, for value i of a 32-value block, the byte of the
	// block's 32-bit high-bit mask that holds bit i (VPSHUFB works within
	// 128-bit halves, each of which holds a copy of the mask).
	bitIndex = [32]int8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3}
	bitMask  = [32]uint8{1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128}
)

// highBits spreads the 32 bits of qh into 32 bytes of 0x10 (bit set) or 0.
func highBits(qh uint32, idx archsimd.Int8x32, mask, one u8x32) u8x32 {
	b := archsimd.BroadcastUint32x8(qh).AsUint8x32().PermuteOrZeroGrouped(idx)
	return b.And(mask).Min(one).AsUint16x16().ShiftAllLeft(4).AsUint8x32()
}

// q5Row is the loop of Q4_1, Q5_0 and Q5_1: off is the byte offset of the
// quants in a block, qhOff that of the high bits (-1: none), mOff that of
// the offset m (-1: none), sub the value subtracted from each quant.
func q5Row(out []float32, a *qacts, r, in int, w []byte, bb, qhOff, mOff, qsOff int, sub int8) {
	nb := in / 32
	_, _, _, _ = w[:nb*bb], a.q[:(r+1)*in], a.d[:(r+1)*nb], a.s[:(r+1)*in/16]
	idx, mask := archsimd.LoadInt8x32(&bitIndex), archsimd.LoadUint8x32(&bitMask)
	one, subv := archsimd.BroadcastUint8x32(1), archsimd.BroadcastInt8x32(sub)
	var acc f8
	var off float32
	row := r * in
	for b := range nb {
		blk := w[bb*b : bb*b+bb]
		q := nibbles(blk, qsOff)
		if qhOff >= 0 {
			q = q.Or(highBits(binary.LittleEndian.Uint32(blk[qhOff:]), idx, mask, one))
		}
		x := ldI8(a.q, row+32*b)
		dx := a.d[r*nb+b]
		var p archsimd.Int32x8
		if sub != 0 {
			p = sdot(q.AsInt8x32().Sub(subv), x)
		} else {
			p = udot(q, x)
		}
		acc = archsimd.BroadcastFloat32x8(h2f(blk, 0)*dx).MulAdd(p.ConvertToFloat32(), acc)
		if mOff >= 0 {
			off -= h2f(blk, mOff) * dx * float32(a.s[row/16+2*b]+a.s[row/16+2*b+1])
		}
	}
	finishRow(out, acc, off)
}

func q4_1x8Row(out []float32, a *qacts, r, in int, w []byte) {
	q5Row(out, a, r, in, w, 20, -1, 2, 4, 0)
}

func q5_0x8Row(out []float32, a *qacts, r, in int, w []byte) {
	q5Row(out, a, r, in, w, 22, 2, -1, 6, 16)
}

func q5_1x8Row(out []float32, a *qacts, r, in int, w []byte) {
	q5Row(out, a, r, in, w, 24, 4, 2, 8, 0)
}

// q5_Kx8Row is q4_Kx8Row with each sub-block's fifth bit from qh, bit j of
// byte l for value l of sub-block j.
func q5_Kx8Row(out []float32, a *qacts, r, in int, w []byte) {
	nb := in / 256
	_, _, _, _ = w[:nb*176], a.q[:(r+1)*in], a.d[:(r+1)*in/32], a.s[:(r+1)*in/16]
	var acc f8
	var off float32
	mask, one := archsimd.BroadcastUint8x32(0x0f), archsimd.BroadcastUint8x32(1)
	row := r * in
	for b := range nb {
		blk := w[176*b : 176*b+176]
		d, dmin := h2f(blk, 0), h2f(blk, 2)
		qh := ldU8(blk, 16)
		for c := range 4 {
			raw := ldU8(blk, 48+32*c)
			for h := range 2 {
				j := 2*c + h
				q := raw
				if h == 1 {
					q = raw.AsUint16x16().ShiftAllRight(4).AsUint8x32()
				}
				hb := qh.AsUint16x16().ShiftAllRight(uint64(j)).AsUint8x32().And(one).AsUint16x16().ShiftAllLeft(4).AsUint8x32()
				sc, m := scaleMinK4(j, blk[4:16])
				sb := 8*b + j
				dx := a.d[row/32+sb]
				p := udot(q.And(mask).Or(hb), ldI8(a.q, row+32*sb)).ConvertToFloat32()
				acc = archsimd.BroadcastFloat32x8(d*float32(sc)*dx).MulAdd(p, acc)
				off += dmin * float32(m) * dx * float32(a.s[row/16+2*sb]+a.s[row/16+2*sb+1])
			}
		}
	}
	finishRow(out, acc, off)
}

func scales16(s0, s1 int16) archsimd.Int16x16 {
	return archsimd.Int16x16{}.SetLo(archsimd.BroadcastInt16x8(s0)).SetHi(archsimd.BroadcastInt16x8(s1))
}

// q2_Kx8Row: 2-bit quants with a 4-bit scale and min per 16 values, the
// scales applied in the integer domain as for Q6_K.
func q2_Kx8Row(out []float32, a *qacts, r, in int, w []byte) {
	nb := in / 256
	_, _, _, _ = w[:nb*84], a.q[:(r+1)*in], a.d[:(r+1)*in/32], a.s[:(r+1)*in/16]
	var acc f8
	var off float32
	three := archsimd.BroadcastUint8x32(3)
	row := r * in
	for b := range nb {
		blk := w[84*b : 84*b+84]
		d, dmin := h2f(blk, 80), h2f(blk, 82)
		for j := range 8 {
			q := ldU8(blk, 16+32*(j/4)).AsUint16x16().ShiftAllRight(uint64(2 * (j % 4))).AsUint8x32().And(three)
			s0, s1 := blk[2*j], blk[2*j+1]
			sb := 8*b + j
			dx := a.d[row/32+sb]
			p := q.DotProductPairsSaturated(ldI8(a.q, row+32*sb)).DotProductPairs(scales16(int16(s0&0xf), int16(s1&0xf)))
			acc = archsimd.BroadcastFloat32x8(d*dx).MulAdd(p.ConvertToFloat32(), acc)
			off += dmin * dx * float32(int32(s0>>4)*a.s[row/16+2*sb]+int32(s1>>4)*a.s[row/16+2*sb+1])
		}
	}
	finishRow(out, acc, off)
}

// q3_Kx8Row: 2 low bits from qs and a third from hmask (clear: minus 4), a
// signed 6-bit scale per 16 values.
func q3_Kx8Row(out []float32, a *qacts, r, in int, w []byte) {
	nb := in / 256
	_, _, _ = w[:nb*110], a.q[:(r+1)*in], a.d[:(r+1)*in/32]
	var acc f8
	three, one, four := archsimd.BroadcastUint8x32(3), archsimd.BroadcastUint8x32(1), archsimd.BroadcastInt8x32(4)
	row := r * in
	for b := range nb {
		blk := w[110*b : 110*b+110]
		d := h2f(blk, 108)
		sc := q3kScales(blk[96:108])
		hm := ldU8(blk, 0)
		for j := range 8 {
			lo := ldU8(blk, 32+32*(j/4)).AsUint16x16().ShiftAllRight(uint64(2 * (j % 4))).AsUint8x32().And(three)
			hi := hm.AsUint16x16().ShiftAllRight(uint64(j)).AsUint8x32().And(one).AsUint16x16().ShiftAllLeft(2).AsUint8x32()
			q := lo.Or(hi).AsInt8x32().Sub(four)
			sb := 8*b + j
			x := ldI8(a.q, row+32*sb)
			p := q.Abs().AsUint8x32().DotProductPairsSaturated(x.CopySign(q)).DotProductPairs(scales16(int16(sc[2*j])-32, int16(sc[2*j+1])-32))
			acc = archsimd.BroadcastFloat32x8(d*a.d[row/32+sb]).MulAdd(p.ConvertToFloat32(), acc)
		}
	}
	finishRow(out, acc, 0)
}
