//go:build goexperiment.simd && amd64

package kernel

import (
	"encoding/binary"
	"simd/archsimd"
	"unsafe"

	"github.com/graft-ai/graft/engine/float16"
	"github.com/graft-ai/graft/engine/gguf"
)

// AVX2 dots of 8-bit activations with Q8_0, Q4_0, Q4_K and Q6_K weights, in
// ggml's manner: VPMADDUBSW on |w| and sign(w)·x (or on unsigned quants),
// VPMADDWD to 32-bit lanes, then one FMA per 32 values into a float32
// accumulator scaled by the block scales. A tile takes up to qRows activation
// rows against one weight row and unpacks each weight block once for all of
// them; each row's accumulator sees the same operations whatever the tile
// height, so the result is batch-invariant. The other types keep the
// portable recipe.

const qRows = 4

// halves widens block scales by table lookup, cheaper than the branchy decode.
var halves *[1 << 16]float32

func useQuantAVX2() {
	halves = float16.F16Table()
	useQuant5AVX2()
	qKernels[gguf.TypeQ8_0] = &qTiles{rows: qRows, tile: q8_0x8Tile}
	qKernels[gguf.TypeQ4_0] = &qTiles{rows: qRows, tile: q4_0x8Tile}
	qKernels[gguf.TypeQ4_K] = &qTiles{rows: qRows, tile: q4_Kx8Tile}
	qKernels[gguf.TypeQ6_K] = &qTiles{rows: qRows, tile: q6_Kx8Tile}
}

type (
	i8x32 = archsimd.Int8x32
	u8x32 = archsimd.Uint8x32
)

func ldI8(s []int8, i int) i8x32 {
	return archsimd.LoadInt8x32((*[32]int8)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(s)), i)))
}

func ldU8(s []byte, i int) u8x32 {
	return archsimd.LoadUint8x32((*[32]uint8)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(s)), i)))
}

func ldU8x16(s []byte, i int) archsimd.Uint8x16 {
	return archsimd.LoadUint8x16((*[16]uint8)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(s)), i)))
}

func h2f(b []byte, i int) float32 { return halves[binary.LittleEndian.Uint16(b[i:])] }

var ones16 = archsimd.BroadcastInt16x16(1)

// sdot sums w·x over 32 signed weight quants (|w| ≤ 128, |x| ≤ 127) into
// eight 32-bit lanes.
func sdot(w, x i8x32) archsimd.Int32x8 {
	return w.Abs().AsUint8x32().DotProductPairsSaturated(x.CopySign(w)).DotProductPairs(archsimd.BroadcastInt16x16(1))
}

// udot is sdot for unsigned weight quants below 128.
func udot(w u8x32, x i8x32) archsimd.Int32x8 {
	return w.DotProductPairsSaturated(x).DotProductPairs(archsimd.BroadcastInt16x16(1))
}

// finish reduces each row's accumulator, less its offset term, into out.
func finish(out []float32, ldo int, acc *[qRows]f8, off *[qRows]float32, nr int) {
	var r [4]float32
	for i := range nr {
		reduce8(acc[i]).Store(&r)
		out[i*ldo] = r[0] - off[i]
	}
	archsimd.ClearAVXUpperBits()
}

// The one-row forms (decode) keep the accumulator in a register; they take
// exactly the operations of one row of the tile.

func q8_0x8Row(out []float32, a *qacts, r, in int, w []byte) {
	nb := in / 32
	_, _, _ = w[:nb*34], a.q[:(r+1)*in], a.d[:(r+1)*nb]
	var acc f8
	wi := unsafe.Slice((*int8)(unsafe.Pointer(unsafe.SliceData(w))), len(w))
	xq, xd := a.q[r*in:(r+1)*in], a.d[r*nb:(r+1)*nb]
	for b := range nb {
		p := sdot(ldI8(wi, 34*b+2), ldI8(xq, 32*b)).ConvertToFloat32()
		acc = archsimd.BroadcastFloat32x8(h2f(w, 34*b)*xd[b]).MulAdd(p, acc)
	}
	finishRow(out, acc, 0)
}

func finishRow(out []float32, acc f8, off float32) {
	var v [4]float32
	reduce8(acc).Store(&v)
	archsimd.ClearAVXUpperBits()
	out[0] = v[0] - off
}

func q8_0x8Tile(out []float32, ldo int, a *qacts, r, nr, in int, w []byte) {
	if nr < qRows {
		for i := range nr {
			q8_0x8Row(out[i*ldo:], a, r+i, in, w)
		}
		return
	}
	nb := in / 32
	_, _, _ = w[:nb*34], a.q[:(r+4)*in], a.d[:(r+4)*nb]
	var a0, a1, a2, a3 f8
	for b := range nb {
		wq := ldI8(unsafe.Slice((*int8)(unsafe.Pointer(&w[34*b+2])), 32), 0)
		a0, a1, a2, a3 = sdot4(wq, h2f(w, 34*b), a, r, in, b, a0, a1, a2, a3)
	}
	finish4(out, ldo, a0, a1, a2, a3, nil)
}

// sdot4 adds one signed weight block's scaled dots with 4 activation rows
// to their accumulators, each exactly as the one-row forms do.
func sdot4(wq i8x32, d float32, a *qacts, r, in, b int, a0, a1, a2, a3 f8) (f8, f8, f8, f8) {
	aw, nb := wq.Abs().AsUint8x32(), in/32
	ones := archsimd.BroadcastInt16x16(1)
	dot := func(i int, acc f8) f8 {
		p := aw.DotProductPairsSaturated(ldI8(a.q, (r+i)*in+32*b).CopySign(wq)).DotProductPairs(ones).ConvertToFloat32()
		return archsimd.BroadcastFloat32x8(d*a.d[(r+i)*nb+b]).MulAdd(p, acc)
	}
	return dot(0, a0), dot(1, a1), dot(2, a2), dot(3, a3)
}

// finish4 stores four rows' reduced accumulators less their offsets.
func finish4(out []float32, ldo int, a0, a1, a2, a3 f8, off *[qRows]float32) {
	var v [4][4]float32
	reduce8(a0).Store(&v[0])
	reduce8(a1).Store(&v[1])
	reduce8(a2).Store(&v[2])
	reduce8(a3).Store(&v[3])
	archsimd.ClearAVXUpperBits()
	for i := range 4 {
		o := v[i][0]
		if off != nil {
			o -= off[i]
		}
		out[i*ldo] = o
	}
}

// nibbles spreads 16 bytes into 32 values: the low nibbles, then the high.
func nibbles(s []byte, i int) u8x32 {
	lo := ldU8x16(s, i)
	hi := lo.AsUint16x8().ShiftAllRight(4).AsUint8x16()
	return u8x32{}.SetLo(lo).SetHi(hi).And(archsimd.BroadcastUint8x32(0x0f))
}

func q4_0x8Row(out []float32, a *qacts, r, in int, w []byte) {
	nb := in / 32
	_, _, _ = w[:nb*18], a.q[:(r+1)*in], a.d[:(r+1)*nb]
	var acc f8
	eight := archsimd.BroadcastInt8x32(8)
	for b := range nb {
		wq := nibbles(w, 18*b+2).AsInt8x32().Sub(eight)
		p := sdot(wq, ldI8(a.q, r*in+32*b)).ConvertToFloat32()
		acc = archsimd.BroadcastFloat32x8(h2f(w, 18*b)*a.d[r*nb+b]).MulAdd(p, acc)
	}
	finishRow(out, acc, 0)
}

func q4_0x8Tile(out []float32, ldo int, a *qacts, r, nr, in int, w []byte) {
	if nr < qRows {
		for i := range nr {
			q4_0x8Row(out[i*ldo:], a, r+i, in, w)
		}
		return
	}
	nb := in / 32
	_, _, _ = w[:nb*18], a.q[:(r+4)*in], a.d[:(r+4)*nb]
	var a0, a1, a2, a3 f8
	eight := archsimd.BroadcastInt8x32(8)
	for b := range nb {
		wq := nibbles(w, 18*b+2).AsInt8x32().Sub(eight)
		a0, a1, a2, a3 = sdot4(wq, h2f(w, 18*b), a, r, in, b, a0, a1, a2, a3)
	}
	finish4(out, ldo, a0, a1, a2, a3, nil)
}

// q4_Kx8Tile: each 32-value sub-block j has scale d·sc_j and offset
// dmin·m_j; the offsets go to a scalar per row, dmin·m_j·dx·Σx.
func q4_Kx8Row(out []float32, a *qacts, r, in int, w []byte) {
	nb := in / 256
	_, _, _, _ = w[:nb*144], a.q[:(r+1)*in], a.d[:(r+1)*in/32], a.s[:(r+1)*in/16]
	var acc f8
	var off float32
	mask := archsimd.BroadcastUint8x32(0x0f)
	row := r * in
	for b := range nb {
		blk := w[144*b : 144*b+144]
		d, dmin := h2f(blk, 0), h2f(blk, 2)
		for c := range 4 {
			raw := ldU8(blk, 16+32*c)
			for h := range 2 {
				q := raw
				if h == 1 {
					q = raw.AsUint16x16().ShiftAllRight(4).AsUint8x32()
				}
				j := 2*c + h
				sc, m := scaleMinK4(j, blk[4:16])
				sb := 8*b + j
				dx := a.d[row/32+sb]
				p := udot(q.And(mask), ldI8(a.q, row+32*sb)).ConvertToFloat32()
				acc = archsimd.BroadcastFloat32x8(d*float32(sc)*dx).MulAdd(p, acc)
				off += dmin * float32(m) * dx * float32(a.s[row/16+2*sb]+a.s[row/16+2*sb+1])
			}
		}
	}
	finishRow(out, acc, off)
}

func q4_Kx8Tile(out []float32, ldo int, a *qacts, r, nr, in int, w []byte) {
	if nr == 1 {
		q4_Kx8Row(out, a, r, in, w)
		return
	}
	nb := in / 256
	_, _, _, _ = w[:nb*144], a.q[:(r+nr)*in], a.d[:(r+nr)*in/32], a.s[:(r+nr)*in/16]
	var acc [qRows]f8
	var off [qRows]float32
	mask := archsimd.BroadcastUint8x32(0x0f)
	for b := range nb {
		blk := w[144*b : 144*b+144]
		d, dmin := h2f(blk, 0), h2f(blk, 2)
		for c := range 4 {
			raw := ldU8(blk, 16+32*c)
			qs := [2]u8x32{raw.And(mask), raw.AsUint16x16().ShiftAllRight(4).AsUint8x32().And(mask)}
			for h := range 2 {
				j := 2*c + h
				sc, m := scaleMinK4(j, blk[4:16])
				ds, dm := d*float32(sc), dmin*float32(m)
				sb := 8*b + j // 32-value block index within the row
				for i := range nr {
					row := (r + i) * in
					dx := a.d[row/32+sb]
					p := udot(qs[h], ldI8(a.q, row+32*sb)).ConvertToFloat32()
					acc[i] = archsimd.BroadcastFloat32x8(ds*dx).MulAdd(p, acc[i])
					off[i] += dm * dx * float32(a.s[row/16+2*sb]+a.s[row/16+2*sb+1])
				}
			}
		}
	}
	finish(out, ldo, &acc, &off, nr)
}

// q6_Kx8Tile: 16-value sub-blocks with int8 scales, applied in the integer
// domain by VPMADDWD against a vector of the two scales of each 32 values.
func q6_Kx8Row(out []float32, a *qacts, r, in int, w []byte) {
	nb := in / 256
	_, _, _ = w[:nb*210], a.q[:(r+1)*in], a.d[:(r+1)*in/32]
	var acc f8
	mask4, mask2 := archsimd.BroadcastUint8x32(0x0f), archsimd.BroadcastUint8x32(0x03)
	m32 := archsimd.BroadcastInt8x32(32)
	row := r * in
	for b := range nb {
		blk := w[210*b : 210*b+210]
		d := h2f(blk, 208)
		for half := range 2 {
			qh := ldU8(blk, 128+32*half)
			for e := range 4 {
				lo := ldU8(blk, 64*half+32*(e%2))
				if e >= 2 {
					lo = lo.AsUint16x16().ShiftAllRight(4).AsUint8x32()
				}
				hi := qh.AsUint16x16().ShiftAllRight(uint64(2 * e)).AsUint8x32().And(mask2)
				wq := lo.And(mask4).Or(hi.AsUint16x16().ShiftAllLeft(4).AsUint8x32()).AsInt8x32().Sub(m32)
				s0, s1 := int16(int8(blk[192+8*half+2*e])), int16(int8(blk[192+8*half+2*e+1]))
				scales := archsimd.Int16x16{}.SetLo(archsimd.BroadcastInt16x8(s0)).SetHi(archsimd.BroadcastInt16x8(s1))
				sb := 8*b + 4*half + e
				x := ldI8(a.q, row+32*sb)
				p := wq.Abs().AsUint8x32().DotProductPairsSaturated(x.CopySign(wq)).DotProductPairs(scales)
				acc = archsimd.BroadcastFloat32x8(d*a.d[row/32+sb]).MulAdd(p.ConvertToFloat32(), acc)
			}
		}
	}
	finishRow(out, acc, 0)
}

func q6_Kx8Tile(out []float32, ldo int, a *qacts, r, nr, in int, w []byte) {
	if nr == 1 {
		q6_Kx8Row(out, a, r, in, w)
		return
	}
	nb := in / 256
	_, _, _ = w[:nb*210], a.q[:(r+nr)*in], a.d[:(r+nr)*in/32]
	var acc [qRows]f8
	var off [qRows]float32
	mask4, mask2 := archsimd.BroadcastUint8x32(0x0f), archsimd.BroadcastUint8x32(0x03)
	m32 := archsimd.BroadcastInt8x32(32)
	for b := range nb {
		blk := w[210*b : 210*b+210]
		d := h2f(blk, 208)
		for half := range 2 {
			qh := ldU8(blk, 128+32*half)
			for e := range 4 {
				lo := ldU8(blk, 64*half+32*(e%2))
				if e >= 2 {
					lo = lo.AsUint16x16().ShiftAllRight(4).AsUint8x32()
				}
				hi := qh.AsUint16x16().ShiftAllRight(uint64(2 * e)).AsUint8x32().And(mask2)
				lo = lo.And(mask4)
				wq := lo.Or(hi.AsUint16x16().ShiftAllLeft(4).AsUint8x32()).AsInt8x32().Sub(m32)
				s0, s1 := int16(int8(blk[192+8*half+2*e])), int16(int8(blk[192+8*half+2*e+1]))
				scales := archsimd.Int16x16{}.SetLo(archsimd.BroadcastInt16x8(s0)).SetHi(archsimd.BroadcastInt16x8(s1))
				sb := 8*b + 4*half + e
				for i := range nr {
					row := (r + i) * in
					x := ldI8(a.q, row+32*sb)
					p := wq.Abs().AsUint8x32().DotProductPairsSaturated(x.CopySign(wq)).DotProductPairs(scales)
					acc[i] = archsimd.BroadcastFloat32x8(d*a.d[row/32+sb]).MulAdd(p.ConvertToFloat32(), acc[i])
				}
			}
		}
	}
	finish(out, ldo, &acc, &off, nr)
}
