// Global average pooling over the spatial axes of an NHWC map:
//   out[n][c] = mean_{y,x} in[n][y][x][c]
// Channels are a multiple of 16 (C); a work-item averages one 16-channel vector of one image.

__kernel void global_average_pool(__global const chan16 *in, __global chan16 *out,
                                  const int HW, const int C)
{
    const int cv = get_global_id(0);
    const int n = get_global_id(1);
    const int C16 = C / 16;
    __global const chan16 *src = in + (size_t)n * HW * C16 + cv;
    chan16 sum = 0.0f;
    for (int p = 0; p < HW; p++)
        sum += src[(size_t)p * C16];
    out[(size_t)n * C16 + cv] = sum / (float)HW;
}
