// Row-wise and element-wise kernels of the forward pass. Activations are float32;
// weights are T (float, bf16 or f16).
#include "common.cuh"

// embed: grid (tokens), block 256. out[i] = table[tokens[i]].
template <typename T>
__device__ void embed_body(float* out, const T* table, const int* tokens, int cols) {
    const T* row = table + (size_t)tokens[blockIdx.x] * cols;
    float* o = out + (size_t)blockIdx.x * cols;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) o[c] = to_f(row[c]);
}

// rmsnorm: grid (rows), block 256. Same formula as the CPU kernel:
// out = x / sqrt(mean(x²) + eps) * w, the sum in a fixed block order.
template <typename T>
__device__ void rmsnorm_body(float* out, const float* x, const T* w, int n, float eps) {
    __shared__ float red[32];
    const float* xr = x + (size_t)blockIdx.x * n;
    float* o = out + (size_t)blockIdx.x * n;
    float s = 0.f;
    for (int c = threadIdx.x; c < n; c += blockDim.x) s = __fmaf_rn(xr[c], xr[c], s);
    s = block_sum(s, red);
    float inv = rsqrtf(__fadd_rn(__fdiv_rn(s, (float)n), eps));
    for (int c = threadIdx.x; c < n; c += blockDim.x) o[c] = __fmul_rn(__fmul_rn(xr[c], inv), to_f(w[c]));
}

// add_bias: grid (ceil(rows*n/256)), block 256.
template <typename T>
__device__ void add_bias_body(float* x, const T* bias, int rows, int n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < (size_t)rows * n) x[i] = __fadd_rn(x[i], to_f(bias[i % n]));
}

#define ELEMENTWISE(S, T)                                                                          \
    extern "C" __global__ void embed_##S(float* out, const T* table, const int* tokens, int cols) { \
        embed_body<T>(out, table, tokens, cols);                                                   \
    }                                                                                              \
    extern "C" __global__ void rmsnorm_##S(float* out, const float* x, const T* w, int n, float eps) { \
        rmsnorm_body<T>(out, x, w, n, eps);                                                        \
    }                                                                                              \
    extern "C" __global__ void add_bias_##S(float* x, const T* bias, int rows, int n) {            \
        add_bias_body<T>(x, bias, rows, n);                                                        \
    }
FOR_TYPES(ELEMENTWISE)

// rope_half: Hugging Face rotate_half layout; dimension i pairs with i+d/2.
// grid (tokens, heads), block (d/2). Angles in double like the CPU backend:
// cos/sin of large pos*freq lose accuracy in float32.
extern "C" __global__ void rope_half(float* x, const int* pos, const double* inv_freq, int heads,
                                     int head_dim, float mscale) {
    int t = blockIdx.x, h = blockIdx.y, i = threadIdx.x, half = head_dim / 2;
    if (i >= half) return;
    double s, c;
    sincos((double)pos[t] * inv_freq[i], &s, &c);
    float cs = __fmul_rn((float)c, mscale), sn = __fmul_rn((float)s, mscale);
    float* b = x + ((size_t)t * heads + h) * head_dim;
    float x0 = b[i], x1 = b[i + half];
    b[i] = __fsub_rn(__fmul_rn(x0, cs), __fmul_rn(x1, sn));
    b[i + half] = __fadd_rn(__fmul_rn(x1, cs), __fmul_rn(x0, sn));
}

// rope_interleaved: the GGUF/Meta layout; dimensions 2i and 2i+1 pair.
extern "C" __global__ void rope_interleaved(float* x, const int* pos, const double* inv_freq, int heads,
                                            int head_dim, float mscale) {
    int t = blockIdx.x, h = blockIdx.y, i = threadIdx.x;
    if (i >= head_dim / 2) return;
    double s, c;
    sincos((double)pos[t] * inv_freq[i], &s, &c);
    float cs = __fmul_rn((float)c, mscale), sn = __fmul_rn((float)s, mscale);
    float* b = x + ((size_t)t * heads + h) * head_dim;
    float x0 = b[2 * i], x1 = b[2 * i + 1];
    b[2 * i] = __fsub_rn(__fmul_rn(x0, cs), __fmul_rn(x1, sn));
    b[2 * i + 1] = __fadd_rn(__fmul_rn(x1, cs), __fmul_rn(x0, sn));
}

// silu_mul: out = gate * sigmoid(gate) * up (SwiGLU). grid (ceil(n/256)), block 256.
extern "C" __global__ void silu_mul(float* out, const float* gate, const float* up, long n) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float g = gate[i];
    float sig = __fdiv_rn(1.f, __fadd_rn(1.f, expf(-g)));
    out[i] = __fmul_rn(__fmul_rn(g, sig), up[i]);
}

extern "C" __global__ void add(float* out, const float* a, const float* b, long n) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = __fadd_rn(a[i], b[i]);
}

// gather_rows: grid (len(idx)), block 256. out[i] = x[idx[i]].
extern "C" __global__ void gather_rows(float* out, const float* x, const int* idx, int width) {
    const float* src = x + (size_t)idx[blockIdx.x] * width;
    float* dst = out + (size_t)blockIdx.x * width;
    for (int c = threadIdx.x; c < width; c += blockDim.x) dst[c] = src[c];
}

// convert_*: float32 activations to the GEMM input type; rows beyond `rows` up
// to the padded count are zeroed so cuBLAS reads defined values.
#define CONVERT(S, T)                                                                              \
    extern "C" __global__ void convert_##S(T* out, const float* x, long n, long padded) {          \
        long i = (long)blockIdx.x * blockDim.x + threadIdx.x;                                      \
        if (i < padded) out[i] = from_f<T>(i < n ? x[i] : 0.f);                                    \
    }
FOR_TYPES(CONVERT)

// store_kv_*: grid (tokens), block 256. Writes each token's key/value row
// (width = kv_heads*head_dim floats) into its cache slot.
#define STORE_KV(S, T)                                                                             \
    extern "C" __global__ void store_kv_##S(T* kc, T* vc, const float* k, const float* v,          \
                                            const int* slots, int width) {                         \
        size_t dst = (size_t)slots[blockIdx.x] * width, src = (size_t)blockIdx.x * width;          \
        for (int c = threadIdx.x; c < width; c += blockDim.x) {                                    \
            kc[dst + c] = from_f<T>(k[src + c]);                                                   \
            vc[dst + c] = from_f<T>(v[src + c]);                                                   \
        }                                                                                          \
    }
FOR_TYPES(STORE_KV)

// fill_hash_*: deterministic pseudo-random weights generated on the device
// (uniform with standard deviation std), so benchmarks of 8B-parameter shapes
// need no host tensors. grid (ceil(n/256)), block 256.
#define FILL_HASH(S, T)                                                                            \
    extern "C" __global__ void fill_hash_##S(T* out, long n, unsigned seed, float std) {           \
        long i = (long)blockIdx.x * blockDim.x + threadIdx.x;                                      \
        if (i >= n) return;                                                                        \
        unsigned long long h = (unsigned long long)i * 0x9E3779B97F4A7C15ull ^ seed;               \
        h ^= h >> 33; h *= 0xff51afd7ed558ccdull; h ^= h >> 33; h *= 0xc4ceb9fe1a85ec53ull;         \
        h ^= h >> 33;                                                                              \
        float u = (float)(h >> 40) * (1.f / 16777216.f);                                           \
        out[i] = from_f<T>((2.f * u - 1.f) * 1.7320508f * std);                                    \
    }
FOR_TYPES(FILL_HASH)
