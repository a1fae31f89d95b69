// General KxK convolution (the stem), NHWC, TensorFlow SAME padding, fused bias + ReLU6:
//   out[n][oy][ox][co] = act(bias[co] + sum in[n][oy*s-pt+ky][ox*s-pl+kx][ci] * w[ky][kx][ci][co])
// The input has `cin` channels `in_stride` floats apart per pixel (3 for the RGB input).
// Weights are pre-packed as [Cp/16][K][K][cin][16] (HWIO with the output channels split into
// zero-padded 16-wide panels). A work-item computes 16 output channels of OWT pixels in a row;
// windows wholly inside the image skip the bounds checks. Build with -DKSIZE=k -DCIN=c to
// unroll the taps (then `K` and `cin` are ignored).

#ifndef OWT
#define OWT 4
#endif
#ifdef KSIZE
#define TAPS KSIZE
#define UNROLL_TAPS _Pragma("unroll")
#else
#define TAPS K
#define UNROLL_TAPS
#endif
#ifdef CIN
#define CI CIN
#define UNROLL_CIN _Pragma("unroll")
#else
#define CI cin
#define UNROLL_CIN
#endif

__kernel void conv2d(__global const float *in, __global const chan16 *w,
                     __global const chan16 *bias, __global chan16 *out,
                     const int H, const int W, const int cin, const int in_stride,
                     const int OH, const int OW, const int out_stride, const int K,
                     const int stride, const int pad_top, const int pad_left, const int relu6)
{
    const int col = get_global_id(0);
    const int ox0 = get_global_id(1) * OWT;
    const int noy = get_global_id(2);
    const int n = noy / OH, oy = noy - n * OH;
    __global const chan16 *panel = w + (size_t)col * TAPS * TAPS * CI;
    const int iy0 = oy * stride - pad_top, ix0 = ox0 * stride - pad_left;
    __global const float *src = in + ((long)n * H * W + (long)iy0 * W + ix0) * in_stride;
    chan16 acc[OWT];
    const chan16 b = bias[col];
#pragma unroll
    for (int j = 0; j < OWT; j++)
        acc[j] = b;
    const bool inside = iy0 >= 0 && ix0 >= 0 && iy0 + TAPS <= H
                        && ix0 + (OWT - 1) * stride + TAPS <= W;
    if (inside) {
        UNROLL_TAPS
        for (int ky = 0; ky < TAPS; ky++) {
            UNROLL_TAPS
            for (int kx = 0; kx < TAPS; kx++) {
                UNROLL_CIN
                for (int ci = 0; ci < CI; ci++) {
                    const chan16 wv = panel[(ky * TAPS + kx) * CI + ci];
                    const long at = ((long)ky * W + kx) * in_stride + ci;
#pragma unroll
                    for (int j = 0; j < OWT; j++)
                        acc[j] = src[at + j * stride * in_stride] * wv + acc[j];
                }
            }
        }
    } else {
        for (int ky = 0; ky < TAPS; ky++) {
            if (iy0 + ky < 0 || iy0 + ky >= H)
                continue;
            for (int kx = 0; kx < TAPS; kx++) {
                for (int ci = 0; ci < CI; ci++) {
                    const chan16 wv = panel[(ky * TAPS + kx) * CI + ci];
                    const long at = ((long)ky * W + kx) * in_stride + ci;
#pragma unroll
                    for (int j = 0; j < OWT; j++) {
                        const int ix = ix0 + j * stride + kx;
                        if (ix >= 0 && ix < W)
                            acc[j] = src[at + j * stride * in_stride] * wv + acc[j];
                    }
                }
            }
        }
    }
    __global chan16 *dst = out + ((size_t)noy * OW + ox0) * (out_stride / 16) + col;
#pragma unroll
    for (int j = 0; j < OWT; j++) {
        if (ox0 + j < OW)
            dst[(size_t)j * (out_stride / 16)] = relu6 ? RELU6(acc[j]) : acc[j];
    }
}
