package kernel

// WidenF16 widens the IEEE halves of src into the front of dst, exactly, with
// the SIMD widening where the build has one. src must hold finite halves: the
// SIMD widening turns Inf and NaN into finite values (callers holding
// non-finite halves widen with float16.F16ToF32 instead).
func WidenF16(dst []float32, src []uint16) {
	if len(dst) < len(src) {
		panic("kernel: WidenF16 destination shorter than its source")
	}
	widenF16Panel(dst, halfBytes(src))
}
