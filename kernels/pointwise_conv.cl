// 1x1 convolution (and the fully connected layer) as a register-tiled GEMM:
//   out[m][n] = act(sum_k in[m][k] * w[k][n] + bias[n] (+ residual[m][n]))
// `in` is M rows of K floats, `lda` floats apart (NHWC pixels; lda >= K).
// Weights are pre-packed at load time as [Np/16][K][16] (Np = cout rounded up to 16, zero
// padded) so a work-item streams one contiguous chan16 column panel.
// Work-item (r, p) computes rows r*TM .. r*TM+TM-1 of column panels p*cols .. p*cols+cols-1;
// rows past M are clamped on load and skipped on store. Row tiles vary fastest, so
// neighbouring work-items share weight panels in L1. Several panels per work-item (`cols` > 1)
// pay for a work-group's fixed costs (launch, row pointers) once when K is small: with K = 16
// a panel is only 16 steps of the loop. Output and residual rows are `ldc` floats apart (a multiple of
// 16, >= Np), so stores are whole aligned chan16 vectors.
// PoCL notes: builtins (min, clamp, vload16, vstore16) compile to out-of-line calls in this
// PoCL build, so the hot path uses plain operators and vector pointers; `a * b + c` is
// contracted to FMA and is faster than fma(); no local memory or barriers.

#ifndef TM
#define TM 6
#endif

__kernel void pointwise_conv(__global const float *in, const int lda,
                             __global const chan16 *w, __global const chan16 *bias,
                             __global const chan16 *residual, __global chan16 *out,
                             const int ldc, const int M, const int K, const int relu6,
                             const int cols)
{
    const int row0 = get_global_id(0) * TM;
    const int col0 = get_global_id(1) * cols;
    const int panels = ldc / 16;
    const int col_end = col0 + cols < panels ? col0 + cols : panels;
    const size_t ldv = ldc / 16;
    __global const float *rows[TM];
#pragma unroll
    for (int i = 0; i < TM; i++) {
        const int r = row0 + i < M ? row0 + i : M - 1;
        rows[i] = in + (size_t)r * lda;
    }
    for (int col = col0; col < col_end; col++) {
        __global const chan16 *panel = w + (size_t)col * K;
        chan16 acc[TM];
        const chan16 b = bias[col];
#pragma unroll
        for (int i = 0; i < TM; i++)
            acc[i] = b;
#pragma unroll 4
        for (int k = 0; k < K; k++) {
            const chan16 wk = panel[k];
#pragma unroll
            for (int i = 0; i < TM; i++)
                acc[i] = rows[i][k] * wk + acc[i];
        }
        STORE_TILE(out, residual, acc, row0, M, ldv, col, relu6);
    }
}
