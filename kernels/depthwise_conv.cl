// Depthwise KxK convolution, NHWC, TensorFlow SAME padding, fused bias + optional ReLU6:
//   out[n][oy][ox][c] = act(bias[c] + sum_{ky,kx} in[n][oy*s-pt+ky][ox*s-pl+kx][c] * w[ky][kx][c])
// Channels are padded to a multiple of 16 (C) in activations and weights ([K][K][C]), so a
// work-item handles one chan16 channel vector of OWT neighbouring output pixels in a row:
// each weight vector is loaded once per OWT pixels and the input rows stay in L1.
// Windows that lie wholly inside the image take a path without bounds checks.
// Build with -DKSIZE=k to make the tap loops constant (unrolled); `K` is then ignored.
// Rows past N*OH (the global size is rounded up to the work-group size) return at once.

#ifndef OWT
#define OWT 7
#endif
#ifdef KSIZE
#define TAPS KSIZE
#else
#define TAPS K
#endif

__kernel void depthwise_conv(__global const chan16 *in, __global const chan16 *w,
                             __global const chan16 *bias, __global chan16 *out,
                             const int N, const int H, const int W, const int C,
                             const int OH, const int OW, const int K, const int stride,
                             const int pad_top, const int pad_left, const int relu6)
{
    const int cv = get_global_id(0);
    const int ox0 = get_global_id(1) * OWT;
    const int noy = get_global_id(2);                // n * OH + oy
    if (noy >= N * OH)
        return;
    const int n = noy / OH, oy = noy - n * OH;
    const int cvs = C / 16;                          // vectors per pixel
    __global const chan16 *src = in + (size_t)n * H * W * cvs + cv;
    chan16 acc[OWT];
    const chan16 b = bias[cv];
#pragma unroll
    for (int j = 0; j < OWT; j++)
        acc[j] = b;
    const int iy0 = oy * stride - pad_top;
    const int ix0 = ox0 * stride - pad_left;
    const bool inside = ix0 >= 0 && ix0 + (OWT - 1) * stride + TAPS <= W;
    for (int ky = 0; ky < TAPS; ky++) {
        const int iy = iy0 + ky;
        if (iy < 0 || iy >= H)
            continue;
        __global const chan16 *line = src + ((long)iy * W + ix0) * cvs;
        __global const chan16 *taps = w + ky * TAPS * cvs + cv;
        if (inside) {
#pragma unroll
            for (int kx = 0; kx < TAPS; kx++) {
                const chan16 wk = taps[kx * cvs];
#pragma unroll
                for (int j = 0; j < OWT; j++)
                    acc[j] = line[(j * stride + kx) * cvs] * wk + acc[j];
            }
        } else {
            for (int kx = 0; kx < TAPS; kx++) {
                const chan16 wk = taps[kx * cvs];
#pragma unroll
                for (int j = 0; j < OWT; j++) {
                    const int ix = ix0 + j * stride + kx;
                    if (ix >= 0 && ix < W)
                        acc[j] = line[(j * stride + kx) * cvs] * wk + acc[j];
                }
            }
        }
    }
    __global chan16 *dst = out + ((size_t)noy * OW + ox0) * cvs + cv;
#pragma unroll
    for (int j = 0; j < OWT; j++) {
        if (ox0 + j < OW)
            dst[(size_t)j * cvs] = relu6 ? RELU6(acc[j]) : acc[j];
    }
}
