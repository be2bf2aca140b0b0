// Upsample + FIR filter + downsample: parameters and launcher shared by upfirdn2d.cpp and upfirdn2d.cu.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace s2edit {
namespace upfirdn2d {

enum class DType : int { f16 = 0, f32 = 1, f64 = 2 };

// y[n, c, oy, ox] = gain * sum_{iy, ix} x[n, c, iy, ix] * g[iy * up_y + pad_y0 - oy * down_y][...x likewise...],
// where g is the filter flipped in both axes (a true convolution) unless flip is set (a correlation),
// and taps outside the filter count as zero.
struct Params {
    const void* x;  // [n, c, in_h, in_w], any strides
    const void* f;  // [fh, fw] contiguous; float32, or float64 when x is float64
    void* y;        // [n, c, out_h, out_w], any strides
    int up_x, up_y, down_x, down_y;
    int pad_x0, pad_y0;  // the trailing padding only decides the output size
    int flip;
    double gain;
    int64_t n, c;
    int in_h, in_w, out_h, out_w;
    int fh, fw;
    int64_t x_stride[4];  // n, c, h, w, in elements
    int64_t y_stride[4];
};

// Enqueues the kernel on `stream`; returns the launch status.
cudaError_t launch(const Params& p, DType dtype, cudaStream_t stream);

}  // namespace upfirdn2d
}  // namespace s2edit
