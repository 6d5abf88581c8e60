/*
 * llm/ops.c - the numeric kernels: the one place that talks to BLAS.
 *
 * Many rows (image patches, a prompt chunk) go to cblas_sgemm; a single row (one decoded
 * token) goes to a matrix-vector product that streams the weight matrix once without packing
 * it (cblas_sgemv, or on AVX2 machines our own, four rows per pass: OpenBLAS 0.3.21 runs its
 * Haswell sgemv on this class of CPU, and the decode loop is bound by reading weights). Norms
 * accumulate in double so results do not depend on the summation order more than needed to
 * match the PyTorch reference within 1e-5.
 *
 * What is not a matrix product (softmax, GELU, SiLU) was, before
 * vectorizing, more than half of the encoder's time: 25 million expf() per 512 x 512 image in
 * the attention softmax alone. On x86-64 these kernels have an AVX2+FMA version chosen at run
 * time (the build targets baseline x86-64, so the compiler cannot use AVX2 by itself), with
 * exp() as a degree-6 polynomial after range reduction (Cephes' expf, within 2 ulp); other
 * machines, and tests through llm__ops_set_simd(false), take the plain C loops with libm.
 */
#include "ops_internal.h"

#include <cblas.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_X86_SIMD 1
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma")))
#else
#define HAVE_X86_SIMD 0
#endif

/* --- dispatch ------------------------------------------------------------------------------ */

static bool simd_disabled; /* tests only (llm__ops_set_simd) */

static bool use_avx2(void)
{
#if HAVE_X86_SIMD
    return !simd_disabled && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return false;
#endif
}

bool llm__ops_set_simd(bool on)
{
    simd_disabled = !on;
    return use_avx2();
}

/* --- AVX2 building blocks -------------------------------------------------------------------- */

#if HAVE_X86_SIMD
/* Lanes 0..n-1 set, for masked loads and stores of a loop's last n < 8 values. */
AVX2 static inline __m256i tail_mask(size_t n)
{
    static const int32_t ones[16] = {-1, -1, -1, -1, -1, -1, -1, -1};
    return _mm256_loadu_si256((const __m256i *)(const void *)(ones + 8 - n));
}

AVX2 static inline float hsum(__m256 v)
{
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}

AVX2 static inline float hmax(__m256 v)
{
    __m128 a = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_max_ps(a, _mm_movehl_ps(a, a));
    a = _mm_max_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}

/* exp(x) for 8 floats: x = n ln2 + r, |r| <= ln2 / 2; exp(r) by Cephes' polynomial; 2^n by
 * the exponent bits. Inputs are clamped to [-87.3, 88.7] (so exp(-inf) gives ~1e-38, not 0). */
AVX2 static inline __m256 exp8(__m256 x)
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.33f)), _mm256_set1_ps(88.72f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    /* n in [-126, 128]: split 2^n in two factors so that n = 128 does not overflow the bits */
    __m256i e = _mm256_cvtps_epi32(n);
    __m256i e1 = _mm256_srai_epi32(e, 1), e2 = _mm256_sub_epi32(e, e1);
    __m256i bias = _mm256_set1_epi32(127);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(e1, bias), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(e2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

/* y[0..3] (+)= the horizontal sums of a0..a3, all four at once. */
AVX2 static inline void store4(float *y, __m256 a0, __m256 a1, __m256 a2, __m256 a3,
                               bool accumulate)
{
    __m256 s01 = _mm256_hadd_ps(a0, a1), s23 = _mm256_hadd_ps(a2, a3);
    __m256 s = _mm256_hadd_ps(s01, s23); /* (0 1 2 3 | 0 1 2 3) of each 128-bit half */
    __m128 sum = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    if (accumulate)
        sum = _mm_add_ps(sum, _mm_loadu_ps(y));
    _mm_storeu_ps(y, sum);
}

/* y (out) = W (out, in) x (in) (+ y when accumulate) for each of n (x, y) pairs (x row r at
 * x + r * in, y row r at y + r * out): four weight rows at a time, so that x is read once per
 * four rows and the four weight streams are read from memory once for all n inputs (the
 * first two in one pass; the later passes find the rows in the cache). Each output is computed
 * exactly as with n = 1: the same lanes, the same order of additions, the same reduction for a
 * given weight row. */
AVX2 static void gemv_avx2(float *y, const float *w, const float *x, int n, int out, int in,
                           bool accumulate)
{
    size_t len = (size_t)in, full = len & ~(size_t)7;
    __m256i mask = tail_mask(len - full);
    int o = 0;
    for (; o + 4 <= out; o += 4) {
        const float *w0 = w + (size_t)o * len, *w1 = w0 + len, *w2 = w1 + len, *w3 = w2 + len;
        int r = 0;
        /* the first two inputs in one pass over the four weight rows, the others one by one
         * from the cache: a second two-input pass measured slower than two one-input passes
         * (bench_llm's decode_matmul_ms_batch4_rows; cause not found) */
        for (; r + 2 <= n && r == 0; r += 2) {
            const float *xa = x + (size_t)r * len, *xb = xa + len;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            size_t i = 0;
            for (; i < full; i += 8) {
                __m256 xv = _mm256_loadu_ps(xa + i), yv = _mm256_loadu_ps(xb + i);
                __m256 v0 = _mm256_loadu_ps(w0 + i), v1 = _mm256_loadu_ps(w1 + i);
                a0 = _mm256_fmadd_ps(v0, xv, a0);
                b0 = _mm256_fmadd_ps(v0, yv, b0);
                a1 = _mm256_fmadd_ps(v1, xv, a1);
                b1 = _mm256_fmadd_ps(v1, yv, b1);
                v0 = _mm256_loadu_ps(w2 + i);
                v1 = _mm256_loadu_ps(w3 + i);
                a2 = _mm256_fmadd_ps(v0, xv, a2);
                b2 = _mm256_fmadd_ps(v0, yv, b2);
                a3 = _mm256_fmadd_ps(v1, xv, a3);
                b3 = _mm256_fmadd_ps(v1, yv, b3);
            }
            if (i < len) {
                __m256 xv = _mm256_maskload_ps(xa + i, mask), yv = _mm256_maskload_ps(xb + i, mask);
                __m256 v0 = _mm256_maskload_ps(w0 + i, mask), v1 = _mm256_maskload_ps(w1 + i, mask);
                a0 = _mm256_fmadd_ps(v0, xv, a0);
                b0 = _mm256_fmadd_ps(v0, yv, b0);
                a1 = _mm256_fmadd_ps(v1, xv, a1);
                b1 = _mm256_fmadd_ps(v1, yv, b1);
                v0 = _mm256_maskload_ps(w2 + i, mask);
                v1 = _mm256_maskload_ps(w3 + i, mask);
                a2 = _mm256_fmadd_ps(v0, xv, a2);
                b2 = _mm256_fmadd_ps(v0, yv, b2);
                a3 = _mm256_fmadd_ps(v1, xv, a3);
                b3 = _mm256_fmadd_ps(v1, yv, b3);
            }
            store4(y + (size_t)r * out + o, a0, a1, a2, a3, accumulate);
            store4(y + (size_t)(r + 1) * out + o, b0, b1, b2, b3, accumulate);
        }
        for (; r < n; r++) {
            const float *xr = x + (size_t)r * len;
            float *yr = y + (size_t)r * out;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            size_t i = 0;
            for (; i < full; i += 8) {
                __m256 xv = _mm256_loadu_ps(xr + i);
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + i), xv, a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + i), xv, a1);
                a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w2 + i), xv, a2);
                a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w3 + i), xv, a3);
            }
            if (i < len) {
                __m256 xv = _mm256_maskload_ps(xr + i, mask);
                a0 = _mm256_fmadd_ps(_mm256_maskload_ps(w0 + i, mask), xv, a0);
                a1 = _mm256_fmadd_ps(_mm256_maskload_ps(w1 + i, mask), xv, a1);
                a2 = _mm256_fmadd_ps(_mm256_maskload_ps(w2 + i, mask), xv, a2);
                a3 = _mm256_fmadd_ps(_mm256_maskload_ps(w3 + i, mask), xv, a3);
            }
            store4(yr + o, a0, a1, a2, a3, accumulate);
        }
    }
    for (; o < out; o++) {
        const float *wr = w + (size_t)o * len;
        for (int r = 0; r < n; r++) {
            const float *xr = x + (size_t)r * len;
            float *yr = y + (size_t)r * out;
            __m256 a = _mm256_setzero_ps();
            size_t i = 0;
            for (; i < full; i += 8)
                a = _mm256_fmadd_ps(_mm256_loadu_ps(wr + i), _mm256_loadu_ps(xr + i), a);
            if (i < len)
                a = _mm256_fmadd_ps(_mm256_maskload_ps(wr + i, mask),
                                    _mm256_maskload_ps(xr + i, mask), a);
            yr[o] = (accumulate ? yr[o] : 0.0f) + hsum(a);
        }
    }
}

AVX2 static void softmax_avx2(float *x, int n);

/* One query token against the KV cache, the query heads of one KV head together: each key and
 * value row is loaded once for the whole group (GQA) instead of once per head. */
AVX2 static void attention_group_avx2(float *out, const float *q, const float *k,
                                      const float *v, int kv_stride, int n_kv, int group,
                                      int head_dim, float scale, float *att)
{
    size_t hd = (size_t)head_dim, full = hd & ~(size_t)7;
    __m256i mask = tail_mask(hd - full);
    for (int j = 0; j < n_kv; j++) {
        const float *kj = k + (size_t)j * kv_stride;
        for (int h = 0; h < group; h++) {
            const float *qh = q + h * hd;
            __m256 a = _mm256_setzero_ps();
            size_t d = 0;
            for (; d < full; d += 8)
                a = _mm256_fmadd_ps(_mm256_loadu_ps(qh + d), _mm256_loadu_ps(kj + d), a);
            if (d < hd)
                a = _mm256_fmadd_ps(_mm256_maskload_ps(qh + d, mask),
                                    _mm256_maskload_ps(kj + d, mask), a);
            att[(size_t)h * n_kv + j] = hsum(a) * scale;
        }
    }
    for (int h = 0; h < group; h++)
        softmax_avx2(att + (size_t)h * n_kv, n_kv);
    memset(out, 0, sizeof(float) * hd * group);
    for (int j = 0; j < n_kv; j++) {
        const float *vj = v + (size_t)j * kv_stride;
        for (int h = 0; h < group; h++) {
            float *oh = out + h * hd;
            __m256 p = _mm256_set1_ps(att[(size_t)h * n_kv + j]);
            size_t d = 0;
            for (; d < full; d += 8)
                _mm256_storeu_ps(oh + d, _mm256_fmadd_ps(p, _mm256_loadu_ps(vj + d),
                                                         _mm256_loadu_ps(oh + d)));
            if (d < hd)
                _mm256_maskstore_ps(oh + d, mask,
                                    _mm256_fmadd_ps(p, _mm256_maskload_ps(vj + d, mask),
                                                    _mm256_maskload_ps(oh + d, mask)));
        }
    }
}

AVX2 static void softmax_avx2(float *x, int n)
{
    size_t i, len = (size_t)n;
    __m256 vmax = _mm256_set1_ps(-INFINITY);
    for (i = 0; i + 8 <= len; i += 8)
        vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + i));
    float max = hmax(vmax);
    for (; i < len; i++)
        max = x[i] > max ? x[i] : max;
    __m256 m = _mm256_set1_ps(max), sum = _mm256_setzero_ps();
    for (i = 0; i + 8 <= len; i += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), m));
        _mm256_storeu_ps(x + i, e);
        sum = _mm256_add_ps(sum, e);
    }
    if (i < len) {
        __m256i mask = tail_mask(len - i);
        __m256 e = exp8(_mm256_sub_ps(_mm256_maskload_ps(x + i, mask), m));
        e = _mm256_and_ps(e, _mm256_castsi256_ps(mask));
        _mm256_maskstore_ps(x + i, mask, e);
        sum = _mm256_add_ps(sum, e);
    }
    __m256 inv = _mm256_set1_ps(1.0f / hsum(sum));
    for (i = 0; i + 8 <= len; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    if (i < len) {
        __m256i mask = tail_mask(len - i);
        _mm256_maskstore_ps(x + i, mask, _mm256_mul_ps(_mm256_maskload_ps(x + i, mask), inv));
    }
}

/* x / (1 + exp(-2u)) = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3) */
AVX2 static inline __m256 gelu8(__m256 x)
{
    __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
    __m256 u = _mm256_mul_ps(_mm256_fmadd_ps(x3, _mm256_set1_ps(0.044715f), x),
                             _mm256_set1_ps(-2.0f * 0.7978845608028654f));
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), exp8(u)));
}

AVX2 static void gelu_avx2(float *x, size_t n)
{
    size_t i;
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, gelu8(_mm256_loadu_ps(x + i)));
    if (i < n) {
        __m256i mask = tail_mask(n - i);
        _mm256_maskstore_ps(x + i, mask, gelu8(_mm256_maskload_ps(x + i, mask)));
    }
}

AVX2 static inline __m256 silu_mul8(__m256 g, __m256 up)
{
    __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
    return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), up);
}

AVX2 static void silu_mul_avx2(float *gate, const float *up, size_t n)
{
    size_t i;
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(gate + i, silu_mul8(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
    if (i < n) {
        __m256i mask = tail_mask(n - i);
        _mm256_maskstore_ps(gate + i, mask, silu_mul8(_mm256_maskload_ps(gate + i, mask),
                                                      _mm256_maskload_ps(up + i, mask)));
    }
}
#endif

/* --- matrix products --------------------------------------------------------------------- */

static void linear(float *y, const float *x, const float *w, const float *b, int n, int in,
                   int out, float beta)
{
    if (b) {
        if (beta == 0.0f)
            for (int i = 0; i < n; i++)
                memcpy(y + (size_t)i * out, b, sizeof(float) * out);
        else
            for (int i = 0; i < n; i++)
                cblas_saxpy(out, 1.0f, b, 1, y + (size_t)i * out, 1);
        beta = 1.0f;
    }
#if HAVE_X86_SIMD
    if (n == 1 && use_avx2()) {
        gemv_avx2(y, w, x, 1, out, in, beta != 0.0f);
        return;
    }
#endif
    if (n == 1)
        /* W (out, in) @ x (in,) -> y (out,) */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.0f, w, in, x, 1, beta, y, 1);
    else
        /* X (n, in) @ W^T (in, out) -> Y (n, out) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, w, in,
                    beta, y, out);
}

void llm__linear(float *y, const float *x, const float *w, const float *b, int n, int in, int out)
{
    linear(y, x, w, b, n, in, out, 0.0f);
}

void llm__linear_add(float *y, const float *x, const float *w, const float *b, int n, int in,
                     int out)
{
    linear(y, x, w, b, n, in, out, 1.0f);
}

void llm__linear_rows(float *y, const float *x, const float *w, int n, int in, int out,
                      bool accumulate)
{
#if HAVE_X86_SIMD
    if (use_avx2()) {
        gemv_avx2(y, w, x, n, out, in, accumulate);
        return;
    }
#endif
    /* NEEDSWORK: without AVX2 each row is its own sgemv (the same sums as n == 1, but the
     * weights are streamed n times). */
    for (int r = 0; r < n; r++)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.0f, w, in, x + (size_t)r * in, 1,
                    accumulate ? 1.0f : 0.0f, y + (size_t)r * out, 1);
}

/* --- norms and activations ----------------------------------------------------------------- */

void llm__layernorm(float *y, const float *x, const float *w, const float *b, int n, int dim,
                    float eps)
{
    for (int r = 0; r < n; r++) {
        const float *xr = x + (size_t)r * dim;
        float *yr = y + (size_t)r * dim;
        double mean = 0, var = 0;
        for (int i = 0; i < dim; i++)
            mean += xr[i];
        mean /= dim;
        for (int i = 0; i < dim; i++)
            var += (xr[i] - mean) * (xr[i] - mean);
        var /= dim;
        float inv = (float)(1.0 / sqrt(var + eps));
        float m = (float)mean;
        for (int i = 0; i < dim; i++)
            yr[i] = (xr[i] - m) * inv * w[i] + b[i];
    }
}

void llm__rmsnorm(float *y, const float *x, const float *w, int n, int dim, float eps)
{
    for (int r = 0; r < n; r++) {
        const float *xr = x + (size_t)r * dim;
        float *yr = y + (size_t)r * dim;
        double ss = 0;
        for (int i = 0; i < dim; i++)
            ss += (double)xr[i] * xr[i];
        float inv = (float)(1.0 / sqrt(ss / dim + eps));
        for (int i = 0; i < dim; i++)
            yr[i] = w[i] * (xr[i] * inv);
    }
}

void llm__softmax(float *x, int n)
{
#if HAVE_X86_SIMD
    if (use_avx2()) {
        softmax_avx2(x, n);
        return;
    }
#endif
    float max = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > max)
            max = x[i];
    double sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++)
        x[i] *= inv;
}

void llm__gelu_tanh(float *x, size_t n)
{
#if HAVE_X86_SIMD
    if (use_avx2()) {
        gelu_avx2(x, n);
        return;
    }
#endif
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
    }
}

void llm__silu_mul(float *gate, const float *up, size_t n)
{
#if HAVE_X86_SIMD
    if (use_avx2()) {
        silu_mul_avx2(gate, up, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

void llm__add(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += x[i];
}

void llm__rope(float *x, int n_heads, int head_dim, const float *cos, const float *sin)
{
    int half = head_dim / 2;
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * head_dim;
        for (int i = 0; i < half; i++) {
            float a = v[i], b = v[i + half];
            v[i] = a * cos[i] - b * sin[i];
            v[i + half] = b * cos[i] + a * sin[i];
        }
    }
}

/* --- attention ------------------------------------------------------------------------------ */

void llm__attention_head(float *out, int out_stride, const float *q, int q_stride,
                         const float *k, const float *v, int kv_stride, int n_q, int n_kv,
                         int head_dim, int causal_start, float *att)
{
    float scale = 1.0f / sqrtf((float)head_dim);
    if (n_q == 1) {
        /* K (n_kv, hd) @ q (hd,) -> scores (n_kv,) */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, n_kv, head_dim, scale, k, kv_stride, q, 1,
                    0.0f, att, 1);
        llm__softmax(att, n_kv);
        /* V^T (hd, n_kv) @ p (n_kv,) -> out (hd,) */
        cblas_sgemv(CblasRowMajor, CblasTrans, n_kv, head_dim, 1.0f, v, kv_stride, att, 1,
                    0.0f, out, 1);
        return;
    }
    /* Queries in blocks of LLM__ATTENTION_BLOCK rows, so that a block's scores (block x n_kv)
     * stay in the L2 cache between the two products and the softmax. */
    for (int q0 = 0; q0 < n_q; q0 += LLM__ATTENTION_BLOCK) {
        int rows = n_q - q0 < LLM__ATTENTION_BLOCK ? n_q - q0 : LLM__ATTENTION_BLOCK;
        /* keys this block sees: all, or up to its last query's position */
        int keys = causal_start < 0 ? n_kv : causal_start + q0 + rows;
        /* Q (rows, hd) @ K^T (hd, keys) -> scores (rows, keys) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, keys, head_dim, scale,
                    q + (size_t)q0 * q_stride, q_stride, k, kv_stride, 0.0f, att, keys);
        for (int i = 0; i < rows; i++) {
            float *row = att + (size_t)i * keys;
            int visible = causal_start < 0 ? keys : causal_start + q0 + i + 1;
            llm__softmax(row, visible);
            memset(row + visible, 0, sizeof(float) * (size_t)(keys - visible));
        }
        /* P (rows, keys) @ V (keys, hd) -> out (rows, hd) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, head_dim, keys, 1.0f, att,
                    keys, v, kv_stride, 0.0f, out + (size_t)q0 * out_stride, out_stride);
    }
}

void llm__attention_decode(float *out, const float *q, const float *k, const float *v,
                           int kv_stride, int n_kv, int n_heads, int n_kv_heads, int head_dim,
                           float *att)
{
    int group = n_heads / n_kv_heads, hd = head_dim;
#if HAVE_X86_SIMD
    if (use_avx2()) {
        float scale = 1.0f / sqrtf((float)head_dim);
        for (int g = 0; g < n_kv_heads; g++)
            attention_group_avx2(out + (size_t)g * group * hd, q + (size_t)g * group * hd,
                                 k + (size_t)g * hd, v + (size_t)g * hd, kv_stride, n_kv, group,
                                 hd, scale, att);
        return;
    }
#endif
    for (int h = 0; h < n_heads; h++) {
        int kvh = h / group;
        llm__attention_head(out + (size_t)h * hd, n_heads * hd, q + (size_t)h * hd, n_heads * hd,
                            k + (size_t)kvh * hd, v + (size_t)kvh * hd, kv_stride, 1, n_kv, hd,
                            n_kv - 1, att);
    }
}
