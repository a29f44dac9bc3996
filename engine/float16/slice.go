package float16

import "sync"

// f16Table holds all 65536 widened halves: a lookup beats the branchy
// scalar decode on large tensors and costs 256 KiB once, on first use.
var f16Table = sync.OnceValue(func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = F16ToFloat32(uint16(i))
	}
	return &t
})

// The slice forms convert all of src into the front of dst; they panic when
// dst is shorter, since a silent partial conversion would hide a sizing bug.

// F16ToF32 widens IEEE halves.
func F16ToF32(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	t := f16Table()
	for i, h := range src {
		dst[i] = t[h]
	}
}

// BF16ToF32 widens bfloat16 values.
func BF16ToF32(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	for i, h := range src {
		dst[i] = BF16ToFloat32(h)
	}
}

// F32ToF16 narrows to IEEE halves, ties to even.
func F32ToF16(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i, f := range src {
		dst[i] = Float32ToF16(f)
	}
}

// F32ToBF16 narrows to bfloat16, ties to even.
func F32ToBF16(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i, f := range src {
		dst[i] = Float32ToBF16(f)
	}
}

// F16Table returns the table of all 65536 widened halves (built on first use,
// 256 KiB), for kernels that widen one half at a time in hot loops.
func F16Table() *[1 << 16]float32 { return f16Table() }
