// Shared helpers of Graft's CUDA kernels. Everything is compiled with
// -fmad=false: a multiply-add is fused only where the code says __fmaf_rn, so two
// kernels that call the same helper perform the same rounding steps, which is
// what makes a token's result independent of the kernel (prefill or decode) and
// of the batch it runs in.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

typedef __nv_bfloat16 bf16;
typedef __half f16;

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(bf16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_f(f16 x) { return __half2float(x); }

template <typename T> __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ bf16 from_f<bf16>(float x) { return __float2bfloat16_rn(x); }
template <> __device__ __forceinline__ f16 from_f<f16>(float x) { return __float2half_rn(x); }

// warp_sum reduces across a warp with a fixed butterfly; every lane ends with
// the same bits because each step adds the same two partial sums.
__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v = __fadd_rn(v, __shfl_xor_sync(0xffffffffu, v, o));
    return __shfl_sync(0xffffffffu, v, 0);
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// warp_dot is the dot product of one row pair: lane l sums elements l, l+32, ...
// in order, then the butterfly. Used wherever a row result must not depend on
// how rows are grouped.
template <typename TX, typename TW>
__device__ __forceinline__ float warp_dot(const TX* x, const TW* w, int n) {
    int lane = threadIdx.x & 31;
    float s = 0.f;
    for (int k = lane; k < n; k += 32) s = __fmaf_rn(to_f(x[k]), to_f(w[k]), s);
    return warp_sum(s);
}

// block_sum reduces over a block of up to 1024 threads in a fixed order.
__device__ __forceinline__ float block_sum(float v, float* shared32) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
    v = warp_sum(v);
    if (lane == 0) shared32[warp] = v;
    __syncthreads();
    float t = 0.f;
    if (warp == 0) {
        t = lane < warps ? shared32[lane] : 0.f;
        t = warp_sum(t);
        if (lane == 0) shared32[0] = t;
    }
    __syncthreads();
    t = shared32[0];
    __syncthreads();
    return t;
}

// Instantiate a templated kernel body for each weight type under C names
// name_f32, name_bf16, name_f16 so the host resolves them by name.
#define FOR_TYPES(M) M(f32, float) M(bf16, bf16) M(f16, f16)
