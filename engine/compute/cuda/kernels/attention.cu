// Paged attention over block tables (GQA, sliding window), flash-decoding style:
// a token's keys are cut into splits of SPLIT positions, each split is reduced
// with an online softmax over tiles of TILE keys (attn_partial), and the splits
// are merged in order (attn_combine).
//
// Batch invariance: split and tile boundaries are absolute positions, and one
// warp computes one (token, head, split) with the same instructions whether the
// launch groups tokens one per block (decode) or in query tiles of consecutive
// tokens of a sequence (prefill, where the warps of a block read the same K/V
// tiles and share them through L1). So a token's output depends only on its own
// query and its own sequence's cache.
#include "common.cuh"

#define TILE 64
#define SPLIT 512
#define MAX_HEAD_DIM 256
#define ACC (MAX_HEAD_DIM / 32)

struct AttnArgs {
    const float* q;        // [tokens][heads][d]
    const int* pos;        // [tokens]
    const int* seq;        // [tokens]
    const int* tables;     // [seqs][table_stride]
    const int* qtiles;     // [tiles][2]: first token, count
    float* partial;        // [tokens][heads][max_splits][d+2]
    int table_stride, block_size, window, heads, kv_heads, head_dim, max_splits;
    float scale;
};

template <typename T>
__device__ void attend_row(const AttnArgs& a, const T* kc, const T* vc, int t, int h, int split, float* qs) {
    int lane = threadIdx.x & 31, d = a.head_dim;
    int pos = a.pos[t];
    int first = (a.window > 0 && pos - a.window + 1 > 0) ? pos - a.window + 1 : 0;
    int lo = max(first, split * SPLIT), hi = min(pos, split * SPLIT + SPLIT - 1);
    float* part = a.partial + (((size_t)t * a.heads + h) * a.max_splits + split) * (d + 2);
    const float* q = a.q + ((size_t)t * a.heads + h) * d;
    for (int i = lane; i < d; i += 32) qs[i] = q[i];
    __syncwarp();
    const int* table = a.tables + (size_t)a.seq[t] * a.table_stride;
    int width = a.kv_heads * d, kvoff = (h / (a.heads / a.kv_heads)) * d, bs = a.block_size;
    float m = -INFINITY, l = 0.f, acc[ACC];
#pragma unroll
    for (int i = 0; i < ACC; i++) acc[i] = 0.f;
    for (int t0 = lo < hi + 1 ? (lo / TILE) * TILE : hi + 1; t0 <= hi; t0 += TILE) {
        float s[2];
        const T* vrow[2];
        for (int u = 0; u < 2; u++) {
            int j = t0 + lane + 32 * u;
            s[u] = -INFINITY;
            vrow[u] = nullptr;
            if (j >= lo && j <= hi) {
                size_t slot = (size_t)table[j / bs] * bs + j % bs;
                const T* k = kc + slot * width + kvoff;
                float dot = 0.f;
                for (int i = 0; i < d; i++) dot = __fmaf_rn(qs[i], to_f(k[i]), dot);
                s[u] = __fmul_rn(dot, a.scale);
                vrow[u] = vc + slot * width + kvoff;
            }
        }
        float mt = warp_max(fmaxf(s[0], s[1]));
        float mn = fmaxf(m, mt);
        float alpha = m == -INFINITY ? 0.f : expf(__fsub_rn(m, mn));
        float p[2];
        for (int u = 0; u < 2; u++) p[u] = s[u] == -INFINITY ? 0.f : expf(__fsub_rn(s[u], mn));
        l = __fadd_rn(__fmul_rn(l, alpha), warp_sum(__fadd_rn(p[0], p[1])));
#pragma unroll
        for (int i = 0; i < ACC; i++) acc[i] = __fmul_rn(acc[i], alpha);
        for (int j = 0; j < TILE; j++) {
            int u = j >> 5;
            float pj = __shfl_sync(0xffffffffu, p[u], j & 31);
            unsigned long long vp = __shfl_sync(0xffffffffu, (unsigned long long)vrow[u], j & 31);
            if (pj == 0.f) continue; // masked key (or an underflowed weight: adds nothing)
            const T* v = (const T*)vp;
#pragma unroll
            for (int i = 0; i < ACC; i++) {
                int dd = lane + 32 * i;
                if (dd < d) acc[i] = __fmaf_rn(pj, to_f(v[dd]), acc[i]);
            }
        }
        m = mn;
    }
#pragma unroll
    for (int i = 0; i < ACC; i++) {
        int dd = lane + 32 * i;
        if (dd < d) part[dd] = acc[i];
    }
    if (lane == 0) {
        part[d] = m;
        part[d + 1] = l;
    }
    __syncwarp();
}

// attn_partial: grid (max_splits, heads, tiles), block 32*warps. Warp w of a
// block handles tokens first+w, first+w+warps, ... of its query tile.
template <typename T>
__device__ void attn_partial_body(AttnArgs a, const T* kc, const T* vc) {
    __shared__ float qs[8][MAX_HEAD_DIM]; // blocks have at most 8 warps
    int warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    int split = blockIdx.x, h = blockIdx.y;
    int first = a.qtiles[2 * blockIdx.z], count = a.qtiles[2 * blockIdx.z + 1];
    for (int r = warp; r < count; r += warps) {
        int t = first + r;
        if (split * SPLIT > a.pos[t]) continue; // the combine reads only the token's own splits
        attend_row<T>(a, kc, vc, t, h, split, qs[warp]);
    }
}

#define ATTN(S, T)                                                                                 \
    extern "C" __global__ void attn_partial_##S(AttnArgs a, const T* kc, const T* vc) {            \
        attn_partial_body<T>(a, kc, vc);                                                           \
    }
FOR_TYPES(ATTN)

// attn_combine: grid (tokens, heads), block 32. Merges the token's splits in
// order and normalises.
extern "C" __global__ void attn_combine(float* out, const float* partial, const int* pos, int heads,
                                        int head_dim, int max_splits) {
    int t = blockIdx.x, h = blockIdx.y, lane = threadIdx.x, d = head_dim;
    int splits = pos[t] / SPLIT + 1;
    const float* base = partial + ((size_t)t * heads + h) * max_splits * (d + 2);
    float M = -INFINITY, L = 0.f, acc[ACC];
#pragma unroll
    for (int i = 0; i < ACC; i++) acc[i] = 0.f;
    for (int s = 0; s < splits; s++) {
        const float* p = base + (size_t)s * (d + 2);
        float ms = p[d], ls = p[d + 1];
        if (ms == -INFINITY) continue;
        float a = 0.f, b = 1.f, mn = ms;
        if (M != -INFINITY) {
            mn = fmaxf(M, ms);
            a = expf(__fsub_rn(M, mn));
            b = expf(__fsub_rn(ms, mn));
        }
        L = __fadd_rn(__fmul_rn(L, a), __fmul_rn(ls, b));
#pragma unroll
        for (int i = 0; i < ACC; i++) {
            int dd = lane + 32 * i;
            if (dd < d) acc[i] = __fadd_rn(__fmul_rn(acc[i], a), __fmul_rn(p[dd], b));
        }
        M = mn;
    }
    float* o = out + ((size_t)t * heads + h) * d;
#pragma unroll
    for (int i = 0; i < ACC; i++) {
        int dd = lane + 32 * i;
        if (dd < d) o[dd] = __fdiv_rn(acc[i], L);
    }
}
