package safetensors

// DType is a safetensors element type, spelled as in the header ("F32").
type DType string

// The dtypes of the reference implementation that have whole-byte elements.
const (
	Bool   DType = "BOOL"
	U8     DType = "U8"
	I8     DType = "I8"
	F8E5M2 DType = "F8_E5M2"
	F8E4M3 DType = "F8_E4M3"
	F8E8M0 DType = "F8_E8M0"
	I16    DType = "I16"
	U16    DType = "U16"
	F16    DType = "F16"
	BF16   DType = "BF16"
	I32    DType = "I32"
	U32    DType = "U32"
	F32    DType = "F32"
	F64    DType = "F64"
	I64    DType = "I64"
	U64    DType = "U64"
)

var dtypeSizes = map[DType]int{
	Bool: 1, U8: 1, I8: 1, F8E5M2: 1, F8E4M3: 1, F8E8M0: 1,
	I16: 2, U16: 2, F16: 2, BF16: 2,
	I32: 4, U32: 4, F32: 4,
	F64: 8, I64: 8, U64: 8,
}

// dtypeRank is the declaration order of the reference's Dtype enum, which
// its writer sorts by (descending) before names.
var dtypeRank = map[DType]int{
	Bool: 0, U8: 4, I8: 5, F8E5M2: 6, F8E4M3: 7, F8E8M0: 8,
	I16: 9, U16: 10, F16: 11, BF16: 12, I32: 13, U32: 14, F32: 15,
	F64: 16, I64: 17, U64: 18,
}

// Size is the bytes per element, or 0 for a dtype this package does not know
// (including the sub-byte F4/F6 types, which it refuses).
func (d DType) Size() int { return dtypeSizes[d] }
