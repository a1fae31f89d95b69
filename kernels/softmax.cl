// Softmax over each row of logits: out[n][i] = exp(x[i] - max x) / sum_j exp(x[j] - max x).
// Rows of `in` are `ld` floats apart (padded); `out` rows are packed (`classes` apart).
// One work-item per row: 1000 classes is far too little work to split.

__kernel void softmax(__global const float *in, __global float *out,
                      const int classes, const int ld)
{
    const int n = get_global_id(0);
    __global const float *x = in + (size_t)n * ld;
    __global float *y = out + (size_t)n * classes;
    float top = x[0];
    for (int i = 1; i < classes; i++)
        top = fmax(top, x[i]);
    float sum = 0.0f;
    for (int i = 0; i < classes; i++) {
        const float e = exp(x[i] - top);
        y[i] = e;
        sum += e;
    }
    const float scale = 1.0f / sum;
    for (int i = 0; i < classes; i++)
        y[i] *= scale;
}
