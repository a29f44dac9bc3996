package kernel

import "encoding/binary"

// The 32-value formats (Q4_0, Q4_1, Q5_0, Q5_1) packed eight rows to a
// block: the layout of MatMulPacked on them.
//
// Group g holds rows 8g..8g+7, block after block. Block b of a group is
// the eight rows' block b: first their f16 fields, field by field (d of
// rows 0-7, then Q4_1's and Q5_1's m), 16 bytes each; then Q5_0's and
// Q5_1's fifth bits, 32 bytes (below); then four chunks of 32 bytes, chunk
// k holding quant bytes 4k..4k+3 of each row's block (row r at 4r). A
// group's bytes are those of its eight rows as stored, so a packed matrix
// is exactly as large, and a group starts where its first row did.
//
// Laid out so, one load brings four quant bytes of all eight rows and each
// row's products stay in a lane of their own; the kernels of the rows as
// stored spent most of their work gathering rows into lanes (dot8.go's
// block totals), and a lone activation row read about 26 G weights/s on a
// Zen 3 core in L2, where the packed Q4_0 kernel reads 55 (gen_q4x8.py).
//
// The fifth bits are eight 32-bit words, two a chunk: word 2k holds the
// bits of chunk k's low nibbles, 2k+1 those of its high ones, bit 4r+j
// that of row r's byte j, so that bit i is byte i's as the chunk lies. One
// word is then a mask register (KMOVD) for an AVX-512 masked add, or
// ggml's bytes_from_bits_32 in AVX2.
type x8Layout struct {
	block  int  // a row's block as stored
	halves int  // its f16 fields: d, and m for Q4_1 and Q5_1
	qh     bool // Q5_0 and Q5_1: a 32-bit word of fifth bits after them
}

var (
	q4_0x8 = x8Layout{block: 18, halves: 1}
	q4_1x8 = x8Layout{block: 20, halves: 2}
	q5_0x8 = x8Layout{block: 22, halves: 1, qh: true}
	q5_1x8 = x8Layout{block: 24, halves: 2, qh: true}
)

// chunks is where a packed block's quant chunks start.
func (l x8Layout) chunks() int {
	if l.qh {
		return 16*l.halves + 32
	}
	return 16 * l.halves
}

func (l x8Layout) packing() *packing {
	return &packing{rowBytes: l.block, pack: l.pack, unpackRow: l.unpackRow}
}

// pack takes shapes Pack has checked.
func (l x8Layout) pack(dst, src []byte, rows, cols int) {
	nb := cols / 32
	for g := 0; g < rows; g += packRows {
		for b := range nb {
			d := dst[(g*nb+packRows*b)*l.block:][:packRows*l.block]
			clear(d)
			for r := range packRows {
				l.packRow(d, src[((g+r)*nb+b)*l.block:][:l.block], r)
			}
		}
	}
}

// packRow puts row r's block s (as stored) into packed block d.
func (l x8Layout) packRow(d, s []byte, r int) {
	for h := range l.halves {
		copy(d[16*h+2*r:][:2], s[2*h:])
	}
	qs := s[l.block-16:]
	if l.qh {
		qh := binary.LittleEndian.Uint32(s[2*l.halves:])
		for i := range 8 {
			bits := qh >> qhFrom(i) & 0xF
			o := 16*l.halves + 4*i
			binary.LittleEndian.PutUint32(d[o:], binary.LittleEndian.Uint32(d[o:])|bits<<(4*r))
		}
	}
	for k := range 4 {
		copy(d[l.chunks()+32*k+4*r:][:4], qs[4*k:])
	}
}

// qhFrom is the first of a row's fifth bits (as stored) that packed word i
// holds: word 2k those of chunk k's low nibbles (values 4k..4k+3), 2k+1
// those of its high ones (16+4k..).
func qhFrom(i int) int { return i%2*16 + i/2*4 }

func (l x8Layout) unpackRow(dst, w []byte, row, cols int) {
	nb := cols / 32
	r := row % packRows
	for b := range nb {
		s := w[(row/packRows*nb+b)*packRows*l.block:][:packRows*l.block]
		d := dst[b*l.block:][:l.block]
		for h := range l.halves {
			copy(d[2*h:2*h+2], s[16*h+2*r:])
		}
		if l.qh {
			var qh uint32
			for i := range 8 {
				bits := binary.LittleEndian.Uint32(s[16*l.halves+4*i:]) >> (4 * r) & 0xF
				qh |= bits << qhFrom(i)
			}
			binary.LittleEndian.PutUint32(d[2*l.halves:], qh)
		}
		for k := range 4 {
			copy(d[l.block-16+4*k:][:4], s[l.chunks()+32*k+4*r:])
		}
	}
}

// The packed kernels' float order, on rows as stored: a row's products
// with a block are one exact int32 sum S (the fifth bits and offsets
// included), added to one float32 with an FMA by d_w·d_x, and Q4_1's and
// Q5_1's m·s with a second FMA. Q4_0's is dotQ4_0Q8_0 (so packed Q4_0 has
// the bits of the rows as stored); the others are a rounding apart from
// ggml's eight lanes (dotQ5_0Q8_0, dotQ8_1).

// dotQ5_0Packed is packed Q5_0's dot with Q8_0 activations.
func dotQ5_0Packed(xq, w []byte, nb int) float32 {
	return dotX8(xq, w, nb, 22, 34, func(wb []byte, k int) int32 {
		return int32(q5Value((*[22]byte)(wb), binary.LittleEndian.Uint32(wb[2:]), k))
	})
}

// dotQ4_1Packed is packed Q4_1's dot with Q8_1 activations.
func dotQ4_1Packed(xq, w []byte, nb int) float32 {
	return dotX8(xq, w, nb, 20, q8_1Bytes, func(wb []byte, k int) int32 { return int32(q4_1Value(wb, k)) })
}

// dotQ5_1Packed is packed Q5_1's dot with Q8_1 activations.
func dotQ5_1Packed(xq, w []byte, nb int) float32 {
	return dotX8(xq, w, nb, 24, q8_1Bytes, func(wb []byte, k int) int32 { return int32(q5_1Value(wb, k)) })
}

// dotX8 is the order of all three: weight blocks of bb bytes (f16 d first),
// whose value k is value(block, k), and activation blocks of xb bytes (f16
// d first, the 32 int8 last); with Q8_1 activations (xb q8_1Bytes) the
// weight's m (after d) meets the activation's s (after d).
func dotX8(xq, w []byte, nb, bb, xb int, value func(wb []byte, k int) int32) float32 {
	var acc float32
	for b := range nb {
		wb, x := w[b*bb:][:bb], xq[b*xb:][:xb]
		var s int32
		for k := range 32 {
			s += value(wb, k) * int32(int8(x[xb-32+k]))
		}
		acc = fma32(float32(s), half(wb)*half(x), acc)
		if xb == q8_1Bytes {
			acc = fma32(half(wb[2:]), half(x[2:]), acc)
		}
	}
	return acc
}
