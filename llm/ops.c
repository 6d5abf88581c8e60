/*
 * llm/ops.c - the numeric kernels: the one place that talks to BLAS.
 *
 * Many rows (image patches, a prompt chunk) go to cblas_sgemm; a single row (one decoded
 * token) goes to cblas_sgemv, which streams the weight matrix once without packing it. Norms
 * accumulate in double so results do not depend on the summation order more than needed to
 * match the PyTorch reference within 1e-5.
 */
#include "ops_internal.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

void llm__linear(float *y, const float *x, const float *w, const float *b, int n, int in, int out)
{
    float beta = 0.0f;
    if (b) {
        for (int i = 0; i < n; i++)
            memcpy(y + (size_t)i * out, b, sizeof(float) * out);
        beta = 1.0f;
    }
    if (n == 1)
        /* W (out, in) @ x (in,) -> y (out,) */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.0f, w, in, x, 1, beta, y, 1);
    else
        /* X (n, in) @ W^T (in, out) -> Y (n, out) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, w, in,
                    beta, y, out);
}

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
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
    }
}

void llm__silu_mul(float *gate, const float *up, size_t n)
{
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
    /* Q (n_q, hd) @ K^T (hd, n_kv) -> scores (n_q, n_kv) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n_q, n_kv, head_dim, scale, q,
                q_stride, k, kv_stride, 0.0f, att, n_kv);
    for (int i = 0; i < n_q; i++) {
        float *row = att + (size_t)i * n_kv;
        int visible = causal_start < 0 ? n_kv : causal_start + i + 1;
        llm__softmax(row, visible);
        for (int j = visible; j < n_kv; j++)
            row[j] = 0.0f;
    }
    /* P (n_q, n_kv) @ V (n_kv, hd) -> out (n_q, hd) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n_q, head_dim, n_kv, 1.0f, att, n_kv,
                v, kv_stride, 0.0f, out, out_stride);
}
