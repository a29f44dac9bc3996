// Package kernel holds the float32 compute kernels of the CPU backend: a
// persistent worker pool, matrix multiplication against [outDim, in] weight
// matrices (F32, BF16, F16, and GGUF block-quantized formats through MatMulQ,
// which decodes panels of weight rows exactly as ggml does and runs the F32
// tiles on them, so activations stay float32; for up to four rows of x, as in
// decode, fused AVX2 kernels decode each block in registers and feed the same
// FMA sequence instead; MatMulQ8 instead quantizes the activations to 8 bits
// per row as ggml does and computes integer dots, see dot8.go), and the
// vector operations of a Llama forward pass.
//
// Two builds exist. With GOEXPERIMENT=simd on amd64 the kernels use
// simd/archsimd (AVX-512 when the CPU has it, else AVX2+FMA, chosen at start);
// otherwise, or on CPUs without AVX2, portable Go loops run. GRAFT_KERNEL_LEVEL
// (portable, avx2) caps the choice, so one machine can test every set. All
// have the same API and pass the same tests. The AVX-512 float32 MatMul tiles are Go
// assembly written by gen_asm.py (the compiler's SIMD code has no in-place
// FMA and only 15 vector registers); they follow the same recipe as Dot.
// The integer dots are AVX2 at both SIMD levels; where the CPU also has
// AVX-512 VNNI, batched Q8_0 (dot8z_amd64.s), packed Q4_0, Q4_1, Q5_0,
// Q5_1, Q4_K and Q6_K, stored Q2_K, Q3_K, Q4_K and Q5_K, and stored Q4_1's
// and Q5_1's lone rows (VPDPBUSD, VPDPWSSD; VPTERNLOGD, mask registers,
// scales unpacked in vectors) take twins that form the same integers, so
// they keep every output's bits; so do packed Q2_K's, Q3_K's and Q6_K's
// GFNI twins and those of the lone rows of packed Q4_K and the packed
// 32-value types, which take bit fields with one VGF2P8AFFINEQB where AVX2
// shifts and masks. Packed Q2_K and Q3_K run the same kernels at both
// levels otherwise.
//
// Batch invariance: every path of MatMul, MatMulBF16, MatMulF16 and MatMulQ
// (which is MatMul on the decoded weights, bit for bit) computes each output element with the same sequence of floating-point
// operations (same lanes, same FMA order, same final reduction), whatever the
// number of rows, the tiling or the parallel split. A row's result is therefore bit-identical
// whether it is computed alone or inside any batch. MatMulQ8 holds it too: every
// output is one call of the type's integer dot, the same for any tile. Different builds or CPU
// feature levels may differ from each other in the last bits.
package kernel

// Level names the kernel set chosen for this CPU and build: "avx512",
// "avx2" or "portable".
func Level() string { return level }
