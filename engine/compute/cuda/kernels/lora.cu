// LoRA deltas over adapter segments: SGMV for runs of prefill rows that share an
// adapter, BGMV-style one-row segments for decodes; both are the same two
// kernels over a segment table, so ranks may differ per segment.
//
// Batch invariance: every element (row, r) of the shrink is one warp_dot, and
// every element (row, o) of the expand one thread's in-order sum over the
// rank, so a row's delta does not depend on its segment or the batch.
#include "common.cuh"

// Seg mirrors segTable in segments.go: 32 bytes per segment.
struct Seg {
    int start, end, rank;
    float scale;
    const void* a; // rank x in
    const void* b; // out x rank
};

// lora_shrink: grid (segments, ceil(max_rank/8)), block 256. t[row][r] = x[row] · A[r].
template <typename T>
__device__ void shrink_body(float* t, const float* x, const Seg* segs, int in, int max_rank) {
    Seg s = segs[blockIdx.x];
    int r = blockIdx.y * 8 + (threadIdx.x >> 5);
    if (r >= s.rank) return;
    const T* a = (const T*)s.a + (size_t)r * in;
    for (int row = s.start; row < s.end; row++) {
        float v = warp_dot<float, T>(x + (size_t)row * in, a, in);
        if ((threadIdx.x & 31) == 0) t[(size_t)row * max_rank + r] = v;
    }
}

// lora_expand: grid (segments, ceil(out_dim/256)), block 256.
// out[row][o] += scale * sum_r t[row][r] * B[o][r].
template <typename T>
__device__ void expand_body(float* out, const float* t, const Seg* segs, int out_dim, int max_rank) {
    Seg s = segs[blockIdx.x];
    int o = blockIdx.y * blockDim.x + threadIdx.x;
    if (o >= out_dim) return;
    const T* b = (const T*)s.b + (size_t)o * s.rank;
    for (int row = s.start; row < s.end; row++) {
        const float* tr = t + (size_t)row * max_rank;
        float e = 0.f;
        for (int r = 0; r < s.rank; r++) e = __fmaf_rn(tr[r], to_f(b[r]), e);
        float* dst = out + (size_t)row * out_dim + o;
        *dst = __fmaf_rn(s.scale, e, *dst);
    }
}

#define LORA(S, T)                                                                                 \
    extern "C" __global__ void lora_shrink_##S(float* t, const float* x, const Seg* segs, int in,  \
                                               int max_rank) {                                     \
        shrink_body<T>(t, x, segs, in, max_rank);                                                  \
    }                                                                                              \
    extern "C" __global__ void lora_expand_##S(float* out, const float* t, const Seg* segs,        \
                                               int out_dim, int max_rank) {                        \
        expand_body<T>(out, t, segs, out_dim, max_rank);                                   \
    }
FOR_TYPES(LORA)
