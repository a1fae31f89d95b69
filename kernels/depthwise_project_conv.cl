// Depthwise KxK convolution followed by a 1x1 projection, fused (the tail of an MBConv block):
//   mid[p][c] = act_dw(dw_b[c] + sum_{ky,kx} in[n][oy*s-pt+ky][ox*s-pl+kx][c] * dw_w[ky][kx][c])
//   out[p][o] = act(pw_b[o] + sum_c mid[p][c] * pw_w[c][o] (+ residual[p][o]))
// for output pixels p = (n, oy, ox). The depthwise result (as large as the expanded map) never
// goes to memory: a work-item computes it for TM pixels into work-group local memory (work
// groups are one work-item, so no barriers), then multiplies that TM x C tile by every packed
// weight panel, as pointwise_conv.cl does. Layouts are those of depthwise_conv.cl (input,
// dw_w [K][K][C], C a multiple of 16) and pointwise_conv.cl (pw_w [Np/16][cin][16]).
// Build with -DKSIZE=k to make the taps constant (unrolled); otherwise `K` is used.

#ifndef TM
#define TM 6
#endif
#ifdef KSIZE
#define TAPS KSIZE
#else
#define TAPS K
#endif

__kernel void depthwise_project_conv(
    __global const chan16 *in, __global const chan16 *dw_w, __global const chan16 *dw_b,
    __global const chan16 *pw_w, __global const chan16 *pw_b,
    __global const chan16 *residual, __global chan16 *out, __local chan16 *tile,
    const int N, const int H, const int W, const int C, const int OH, const int OW,
    const int K, const int stride, const int pad_top, const int pad_left, const int dw_relu6,
    const int cin, const int ldc, const int relu6)
{
    const int row0 = get_global_id(0) * TM;
    const int M = N * OH * OW;
    const int cvs = C / 16;

    // 1. The depthwise conv of TM pixels (rows past M repeat the last one), all channels.
    int iy0[TM], ix0[TM];
    __global const chan16 *src[TM];
    bool all_inside = true;
#pragma unroll
    for (int i = 0; i < TM; i++) {
        const int p = row0 + i < M ? row0 + i : M - 1;
        const int n = p / (OH * OW), rest = p - n * OH * OW;
        const int oy = rest / OW, ox = rest - oy * OW;
        iy0[i] = oy * stride - pad_top;
        ix0[i] = ox * stride - pad_left;
        src[i] = in + ((long)n * H * W + (long)iy0[i] * W + ix0[i]) * cvs;
        all_inside &= iy0[i] >= 0 && ix0[i] >= 0 && iy0[i] + TAPS <= H && ix0[i] + TAPS <= W;
    }
    for (int cv = 0; cv < cvs; cv++) {
        chan16 acc[TM];
        const chan16 b = dw_b[cv];
#pragma unroll
        for (int i = 0; i < TM; i++)
            acc[i] = b;
        if (all_inside) {
#pragma unroll
            for (int ky = 0; ky < TAPS; ky++) {
#pragma unroll
                for (int kx = 0; kx < TAPS; kx++) {
                    const chan16 wk = dw_w[(ky * TAPS + kx) * cvs + cv];
                    const long at = ((long)ky * W + kx) * cvs + cv;
#pragma unroll
                    for (int i = 0; i < TM; i++)
                        acc[i] = src[i][at] * wk + acc[i];
                }
            }
        } else {
            for (int ky = 0; ky < TAPS; ky++) {
                for (int kx = 0; kx < TAPS; kx++) {
                    const chan16 wk = dw_w[(ky * TAPS + kx) * cvs + cv];
                    const long at = ((long)ky * W + kx) * cvs + cv;
#pragma unroll
                    for (int i = 0; i < TM; i++) {
                        const int iy = iy0[i] + ky, ix = ix0[i] + kx;
                        if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                            acc[i] = src[i][at] * wk + acc[i];
                    }
                }
            }
        }
#pragma unroll
        for (int i = 0; i < TM; i++)
            tile[i * cvs + cv] = dw_relu6 ? RELU6(acc[i]) : acc[i];
    }

    // 2. The projection of the TM x C tile, one 16-wide output panel at a time.
    __local const float *a = (__local const float *)tile;
    const int panels = ldc / 16;
    for (int col = 0; col < panels; col++) {
        __global const chan16 *panel = pw_w + (size_t)col * cin;
        chan16 acc[TM];
        const chan16 b = pw_b[col];
#pragma unroll
        for (int i = 0; i < TM; i++)
            acc[i] = b;
#pragma unroll 4
        for (int k = 0; k < cin; k++) {
            const chan16 wk = panel[k];
#pragma unroll
            for (int i = 0; i < TM; i++)
                acc[i] = a[i * C + k] * wk + acc[i];
        }
        STORE_TILE(out, residual, acc, row0, M, panels, col, relu6);
    }
}
