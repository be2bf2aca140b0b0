// Fused bias + activation + gain + clamp: parameters and launcher shared by bias_act.cpp and bias_act.cu.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace s2edit {
namespace bias_act {

enum class DType : int { f16 = 0, f32 = 1, f64 = 2 };

// Activation indices; they equal ActivationSpec.cuda_idx in bias_act.py.
enum Act : int { kLinear = 1, kRelu, kLrelu, kTanh, kSigmoid, kElu, kSelu, kSoftplus, kSwish };

struct Params {
    const void* x;     // mode 0: the input; modes 1 and 2: the gradient flowing in
    const void* b;     // bias of sizeB elements, or nullptr
    const void* xref;  // modes 1 and 2: the forward input (before bias), or nullptr when the activation needs none
    const void* yref;  // modes 1 and 2: the forward output, or nullptr when the activation needs none
    const void* dy;    // mode 2: the gradient that reached the forward output, or nullptr
    void* y;           // output, same shape and strides as x
    int grad;          // 0: forward, 1: first derivative, 2: second derivative
    int act;           // an Act value
    double alpha;      // activation parameter (lrelu slope)
    double gain;       // output scale
    double clamp;      // clamp bound; negative disables
    int64_t size_x;    // number of elements of x
    int64_t size_b;    // number of bias elements (the size of the bias dimension)
    int64_t step_b;    // stride of the bias dimension: element i has bias (i / step_b) % size_b
};

// Enqueues the kernel on `stream`; returns the launch status.
cudaError_t launch(const Params& p, DType dtype, cudaStream_t stream);

}  // namespace bias_act
}  // namespace s2edit
