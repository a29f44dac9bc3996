//go:build goexperiment.simd && amd64

package kernel

import "testing"

// TestAttnHalfWithoutF16C runs the half kernels as a CPU without F16C
// would (eight-lane loops only): the bits stay those of the float32 kernels.
func TestAttnHalfWithoutF16C(t *testing.T) {
	if !halfAttnAsm {
		t.Skip("the assembly is off here already: TestAttnHalfEqualsWidened covers the loops")
	}
	halfAttnAsm = false
	defer func() { halfAttnAsm = true }()
	TestAttnHalfEqualsWidened(t)
}
