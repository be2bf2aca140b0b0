// Fused bias + activation + gain + clamp and its first and second derivatives.
//
// Plain CUDA (no torch headers), so that the file compiles on its own with nvcc. One
// element-wise kernel serves three modes: the forward pass (grad == 0), the first
// derivative (grad == 1: dx = dy * gain * f'(x + b), masked where the output was clamped)
// and the second derivative (grad == 2: d_x = d_dx * dy * gain * f''(x + b)). The
// derivatives are written in terms of the forward output y where the activation allows it
// (yref), else in terms of the forward input x (xref), as ActivationSpec.ref says.

#include <cuda_fp16.h>

#include "bias_act.h"

namespace s2edit {
namespace bias_act {
namespace {

template <class T> struct Acc { using type = T; };
template <> struct Acc<__half> { using type = float; };

__device__ __forceinline__ float to_acc(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_acc(float v) { return v; }
__device__ __forceinline__ double to_acc(double v) { return v; }

template <class T> __device__ __forceinline__ T from_acc(typename Acc<T>::type v) { return v; }
template <> __device__ __forceinline__ __half from_acc<__half>(float v) { return __float2half_rn(v); }

// Beyond these magnitudes exp() overflows and the activations have reached their limits.
template <class S> struct Limits;
template <> struct Limits<float> { static constexpr float exp_range = 80.0f; };
template <> struct Limits<double> { static constexpr double exp_range = 709.0; };

constexpr double kSeluScale = 1.0507009873554804934193349852946;
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;

// f(x) for grad == 0, g * f'(.) for grad == 1 and g * f''(.) for grad == 2, where g is the
// incoming gradient, yy = f(x) recovered from the forward output and xr the forward input.
template <int A, class S>
__device__ __forceinline__ S activate(int grad, S x, S xr, S yy, S alpha) {
    const S one = 1, two = 2, range = Limits<S>::exp_range;
    const S selu_scale = (S)kSeluScale, selu_sa = (S)(kSeluScale * kSeluAlpha);
    if (A == kLinear) {
        return grad == 2 ? (S)0 : x;
    }
    if (A == kRelu) {
        if (grad == 0) return x < 0 ? (S)0 : x;
        return grad == 1 && yy > 0 ? x : (S)0;
    }
    if (A == kLrelu) {
        if (grad == 0) return x < 0 ? x * alpha : x;
        if (grad == 1) return yy > 0 ? x : x * alpha;
        return 0;
    }
    if (A == kTanh) {
        if (grad == 0) return tanh(x);
        S d = x * (one - yy * yy);
        return grad == 1 ? d : d * (-two * yy);
    }
    if (A == kSigmoid) {
        if (grad == 0) return x < -range ? (S)0 : one / (exp(-x) + one);
        S d = x * yy * (one - yy);
        return grad == 1 ? d : d * (one - two * yy);
    }
    // elu and selu at the kink x = 0 follow torch: f' from the exponential branch, f'' = 0.
    if (A == kElu) {
        if (grad == 0) return x > 0 ? x : expm1(x);
        if (grad == 1) return yy > 0 ? x : x * (yy + one);
        return yy >= 0 ? (S)0 : x * (yy + one);
    }
    if (A == kSelu) {
        if (grad == 0) return x > 0 ? selu_scale * x : selu_sa * expm1(x);
        if (grad == 1) return yy > 0 ? x * selu_scale : x * (yy + selu_sa);
        return yy >= 0 ? (S)0 : x * (yy + selu_sa);
    }
    if (A == kSoftplus) {
        // Same threshold as torch.nn.functional.softplus; yy = log(1 + e^x), so e^-yy = 1 - sigmoid(x).
        if (grad == 0) return x > (S)20 ? x : log1p(exp(x));
        S s = -expm1(-yy);
        return grad == 1 ? x * s : x * s * (one - s);
    }
    if (A == kSwish) {
        if (grad == 0) return x < -range ? (S)0 : x / (exp(-x) + one);
        if (xr > range / two) return grad == 1 ? x : (S)0;
        S c = exp(xr), d = c + one;
        if (grad == 1) return x * c * (xr + d) / (d * d);
        return x * c * (xr * (two - d) + two * d) / (d * d * d);
    }
    return 0;
}

template <class T, int A, class I>
__global__ void bias_act_kernel(Params p) {
    using S = typename Acc<T>::type;
    const T* x = static_cast<const T*>(p.x);
    const T* b = static_cast<const T*>(p.b);
    const T* xref = static_cast<const T*>(p.xref);
    const T* yref = static_cast<const T*>(p.yref);
    const T* dy = static_cast<const T*>(p.dy);
    T* y = static_cast<T*>(p.y);
    const S alpha = (S)p.alpha, gain = (S)p.gain, clamp = (S)p.clamp;
    const I size_x = (I)p.size_x, size_b = (I)p.size_b, step_b = (I)p.step_b;
    const I stride = (I)gridDim.x * blockDim.x;

    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < size_x; i += stride) {
        S v = to_acc(x[i]);
        S bias = b ? to_acc(b[(i / step_b) % size_b]) : (S)0;
        S xr = xref ? to_acc(xref[i]) : (S)0;
        S yr = yref ? to_acc(yref[i]) : (S)0;
        S g = dy ? to_acc(dy[i]) : (S)1;
        S yy = gain != 0 ? yr / gain : (S)0;
        if (p.grad == 0)
            v += bias;
        else
            xr += bias;

        S out = activate<A, S>(p.grad, v, xr, yy, alpha) * (gain * g);

        if (clamp >= 0) {
            if (p.grad == 0) {
                out = out > clamp ? clamp : out < -clamp ? -clamp : out;  // NaN passes through, as in torch.clamp
            } else if (!(yr > -clamp && yr < clamp)) {
                out = 0;  // the clamped outputs do not depend on the input
            }
        }
        y[i] = from_acc<T>(out);
    }
}

template <class T, class I>
cudaError_t launch_typed(const Params& p, cudaStream_t stream) {
    constexpr int kBlock = 256;
    constexpr int64_t kMaxBlocks = 1 << 20;
    int64_t blocks = (p.size_x + kBlock * 4 - 1) / (kBlock * 4);
    blocks = blocks < 1 ? 1 : blocks > kMaxBlocks ? kMaxBlocks : blocks;
    void (*kernel)(Params) = nullptr;
    switch (p.act) {
        case kLinear: kernel = bias_act_kernel<T, kLinear, I>; break;
        case kRelu: kernel = bias_act_kernel<T, kRelu, I>; break;
        case kLrelu: kernel = bias_act_kernel<T, kLrelu, I>; break;
        case kTanh: kernel = bias_act_kernel<T, kTanh, I>; break;
        case kSigmoid: kernel = bias_act_kernel<T, kSigmoid, I>; break;
        case kElu: kernel = bias_act_kernel<T, kElu, I>; break;
        case kSelu: kernel = bias_act_kernel<T, kSelu, I>; break;
        case kSoftplus: kernel = bias_act_kernel<T, kSoftplus, I>; break;
        case kSwish: kernel = bias_act_kernel<T, kSwish, I>; break;
        default: return cudaErrorInvalidValue;
    }
    kernel<<<(unsigned)blocks, kBlock, 0, stream>>>(p);
    return cudaGetLastError();
}

template <class T>
cudaError_t launch_indexed(const Params& p, cudaStream_t stream) {
    // 32-bit indexing whenever the index plus one grid stride cannot overflow it.
    if (p.size_x < (int64_t(1) << 30)) return launch_typed<T, int32_t>(p, stream);
    return launch_typed<T, int64_t>(p, stream);
}

}  // namespace

cudaError_t launch(const Params& p, DType dtype, cudaStream_t stream) {
    switch (dtype) {
        case DType::f16: return launch_indexed<__half>(p, stream);
        case DType::f32: return launch_indexed<float>(p, stream);
        case DType::f64: return launch_indexed<double>(p, stream);
    }
    return cudaErrorInvalidValue;
}

}  // namespace bias_act
}  // namespace s2edit
