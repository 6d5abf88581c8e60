/*
 * llm/ops_internal.h - the numeric kernels of llm/: every matrix product goes through here
 * (cblas sgemm for many rows, a matrix-vector fast path for one), plus the norms, activations,
 * RoPE and attention.
 * Private to llm/ and its tests. No function allocates; all are thread-safe given distinct
 * output buffers.
 */
#ifndef QUIRE_LLM_OPS_INTERNAL_H
#define QUIRE_LLM_OPS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/* Query rows per block in llm__attention_head (a block's scores stay in the L2 cache). */
#define LLM__ATTENTION_BLOCK 128

/* Kernels with an AVX2+FMA version use it when the CPU has it (checked at each call), unless
 * this turned it off. Returns whether the AVX2 versions are now in use. For tests (to check
 * both versions): not thread-safe, call it while no other thread runs ops. */
bool llm__ops_set_simd(bool on);

/* W (out, in) row-major, X (n, in) -> Y (n, out) = X W^T (+ b (out) broadcast when b != NULL).
 * n == 1 takes the matvec fast path. Y must not alias X. */
void llm__linear(float *y, const float *x, const float *w, const float *b, int n, int in, int out);
/* The same, added to y: Y += X W^T (+ b) (a residual connection without a separate pass). */
void llm__linear_add(float *y, const float *x, const float *w, const float *b, int n, int in,
                     int out);
/* Y (n, out) = X (n, in) W^T (+= when accumulate), no bias, each row bit for bit what
 * llm__linear / llm__linear_add give for that row alone (n == 1): for decoding several
 * sequences in lockstep, where sgemm's different summation order could change a greedy
 * token. The weights are streamed from memory once for all n rows. Y must not alias X. */
void llm__linear_rows(float *y, const float *x, const float *w, int n, int in, int out,
                      bool accumulate);
/* y (n, dim) = LayerNorm(x) * w + b per row (biased variance). y may equal x. */
void llm__layernorm(float *y, const float *x, const float *w, const float *b, int n, int dim,
                    float eps);
/* y (n, dim) = x / sqrt(mean(x^2) + eps) * w per row. y may equal x. */
void llm__rmsnorm(float *y, const float *x, const float *w, int n, int dim, float eps);
/* In place over n values; subtracts the max first. */
void llm__softmax(float *x, int n);
/* In place: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (gelu_pytorch_tanh). */
void llm__gelu_tanh(float *x, size_t n);
/* gate[i] = silu(gate[i]) * up[i]. */
void llm__silu_mul(float *gate, const float *up, size_t n);
/* y[i] += x[i]. */
void llm__add(float *y, const float *x, size_t n);
/* RoPE in the rotate_half layout on n_heads consecutive heads of one token:
 * for i < half: (a, b) = (x[i], x[i+half]) -> (a cos_i - b sin_i, b cos_i + a sin_i);
 * cos/sin hold head_dim/2 values for this token's position. */
void llm__rope(float *x, int n_heads, int head_dim, const float *cos, const float *sin);

/* Scaled dot-product attention for one head.
 * q (n_q, head_dim) with row stride q_stride, k and v (n_kv, head_dim) with row stride
 * kv_stride, out (n_q, head_dim) with row stride out_stride; att is scratch of n_q * n_kv.
 * causal_start < 0: every query sees every key; else query i sits at position causal_start + i
 * and sees keys 0..causal_start+i (n_kv = causal_start + n_q). */
void llm__attention_head(float *out, int out_stride, const float *q, int q_stride,
                         const float *k, const float *v, int kv_stride, int n_q, int n_kv,
                         int head_dim, int causal_start, float *att);

/* Attention of one query token (all heads) to n_kv cached positions, grouped-query:
 * query head h uses key/value head h / (n_heads / n_kv_heads).
 * q (n_heads * head_dim), k and v (n_kv rows of stride kv_stride, KV head g at g * head_dim),
 * out (n_heads * head_dim); att is scratch of (n_heads / n_kv_heads) * n_kv floats. */
void llm__attention_decode(float *out, const float *q, const float *k, const float *v,
                           int kv_stride, int n_kv, int n_heads, int n_kv_heads, int head_dim,
                           float *att);

#endif
