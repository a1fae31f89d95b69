// Shared by every kernel: the runtime prepends this file to each kernel source (followed by a
// `#line 1` so build errors still name the kernel's own lines).
//
// `chan16` is 16 float32 channels held in one OpenCL vector (the built-in type `float16`,
// which is sixteen 32-bit floats, NOT half precision). Activations and weights are padded to
// whole chan16 vectors.
typedef float16 chan16;

// Clip to [0, 6] with plain operators: builtins such as clamp() compile to out-of-line calls in
// this PoCL build.
#define RELU6(v) ((v) < 0.0f ? (chan16)(0.0f) : ((v) > 6.0f ? (chan16)(6.0f) : (v)))

// The end of a 1x1 GEMM tile (the pointwise and the fused kernels): TM accumulated rows of one
// 16-channel column, plus the residual, clipped if asked; rows from M on are padding.
#define STORE_TILE(out, residual, acc, row0, M, ld, col, relu6)                               \
    _Pragma("unroll") for (int i_ = 0; i_ < TM; i_++) {                                     \
        if ((row0) + i_ < (M)) {                                                            \
            const size_t at_ = (size_t)((row0) + i_) * (ld) + (col);                        \
            chan16 v_ = (acc)[i_];                                                          \
            if (residual)                                                                   \
                v_ += (residual)[at_];                                                      \
            if (relu6)                                                                      \
                v_ = RELU6(v_);                                                             \
            (out)[at_] = v_;                                                                \
        }                                                                                   \
    }
