package kernel

// Q4_0 weights packed eight rows to a block: the layout of MatMulPacked
// on Q4_0.
//
// Group g holds rows 8g..8g+7, block after block; block b of a group is
// 144 bytes: the eight rows' f16 scales d, then four chunks of 32 bytes,
// chunk k holding quant bytes 4k..4k+3 of each row's block b (row r at
// 4r). A group's bytes are those of its eight rows as stored, so a packed
// matrix is exactly as large, and a group starts where its first row did.
//
// Laid out so, one load brings four quant bytes of all eight rows and each
// row's products stay in a lane of their own; the kernels of the rows as
// stored spent most of their work gathering rows into lanes (dot8.go's
// block totals), and a lone activation row read about 26 G weights/s on a
// Zen 3 core in L2, where the packed kernel reads 55 (gen_q4x8.py).
const (
	packBlock    = packRows * q4BlockBytes
	q4BlockBytes = 18
)

// packQ4_0x8 and the other layouts' pack functions take shapes Pack has
// checked.
func packQ4_0x8(dst, src []byte, rows, cols int) {
	nb := cols / 32
	rb := nb * q4BlockBytes
	for g := 0; g < rows; g += packRows {
		for b := range nb {
			d := dst[g*rb+b*packBlock : g*rb+(b+1)*packBlock]
			for r := range packRows {
				s := src[(g+r)*rb+b*q4BlockBytes:]
				d[2*r], d[2*r+1] = s[0], s[1]
				for k := range 4 {
					copy(d[16+32*k+4*r:16+32*k+4*r+4], s[2+4*k:6+4*k])
				}
			}
		}
	}
}

func unpackQ4_0x8Row(dst, w []byte, row, cols int) {
	nb := cols / 32
	base := row / packRows * packRows * nb * q4BlockBytes
	r := row % packRows
	for b := range nb {
		s := w[base+b*packBlock : base+(b+1)*packBlock]
		d := dst[b*q4BlockBytes : (b+1)*q4BlockBytes]
		d[0], d[1] = s[2*r], s[2*r+1]
		for k := range 4 {
			copy(d[2+4*k:6+4*k], s[16+32*k+4*r:20+32*k+4*r])
		}
	}
}
