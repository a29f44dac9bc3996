package cuda

import (
	_ "embed"
	"fmt"
)

// The kernels, compiled by kernels/gen.sh (make cuda) and committed like the
// protobuf code; the driver JIT-compiles the PTX for the device it runs on.
var (
	//go:embed kernels/sm_80.ptx
	ptxSM80 []byte
	//go:embed kernels/sm_90.ptx
	ptxSM90 []byte
)

// ptxFor picks the module for a compute capability: sm_90 PTX for Hopper and
// newer, sm_80 for Ampere and Ada; older devices lack the BF16 instructions.
func ptxFor(major, minor int) ([]byte, error) {
	switch {
	case major >= 9:
		return ptxSM90, nil
	case major == 8:
		return ptxSM80, nil
	}
	return nil, fmt.Errorf("compute capability %d.%d is older than 8.0, the oldest these kernels support", major, minor)
}

// kernelNames are the entry points Open resolves; a PTX that lacks one fails
// Open rather than the first launch.
var kernelNames = func() []string {
	n := []string{"rope_half", "rope_interleaved", "silu_mul", "add", "gather_rows", "attn_combine"}
	for _, t := range []string{"f32", "bf16", "f16"} {
		for _, k := range []string{"embed", "rmsnorm", "add_bias", "convert", "store_kv", "attn_partial", "lora_shrink", "lora_expand", "fill_hash"} {
			n = append(n, k+"_"+t)
		}
	}
	return n
}()
