//go:build goexperiment.simd && amd64

package kernel

func useExpandAVX2() {
	expandLoRAImpl = expandLoRAAVX2
	expandLoRABF16Impl = expandLoRABF16AVX2
}

// useExpandAVX512 takes the 16-lane bfloat16 expand, which widens a
// panel's rank in two instructions where the 8-lane one takes four.
func useExpandAVX512() {
	useExpandAVX2()
	expandLoRABF16Impl = expandLoRABF16AVX512
}

// expandF32x32 and expandBF16x32 (lora_amd64.s) add np whole panels' terms
// to y[:32·np]: per panel four 8-lane accumulators, each taking an FMA per
// rank in rank order, as axpy8 gives each element. r ≥ 1.
//
//go:noescape
func expandF32x32(y *float32, c *float32, r int, p *float32, np int)

//go:noescape
func expandBF16x32(y *float32, c *float32, r int, p *uint16, np int)

//go:noescape
func expandBF16x32z(y *float32, c *float32, r int, p *uint16, np int)

func expandLoRAAVX2(y, c, p []float32) { expandTail(y, c, p, expandF32x32) }

func expandLoRABF16AVX2(y, c []float32, p []uint16) { expandTail(y, c, p, expandBF16x32) }

func expandLoRABF16AVX512(y, c []float32, p []uint16) { expandTail(y, c, p, expandBF16x32z) }

// expandTail runs the whole panels in place and the last partial one on a
// copy of its outputs padded to a panel.
func expandTail[T float32 | uint16](y, c []float32, p []T, run func(y, c *float32, r int, p *T, np int)) {
	n, r := len(y), len(c)
	if n == 0 || r == 0 {
		return
	}
	_ = p[:LoRAPanelsLen(n, r)]
	whole := n / loraPanel
	if whole > 0 {
		run(&y[0], &c[0], r, &p[0], whole)
	}
	if rest := y[whole*loraPanel:]; len(rest) > 0 {
		var pad [loraPanel]float32
		copy(pad[:], rest)
		run(&pad[0], &c[0], r, &p[whole*loraPanel*r], 1)
		copy(rest, pad[:])
	}
}
