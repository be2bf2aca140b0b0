// Python binding of the bias_act kernel: argument checks, output allocation, launch.

#include <torch/extension.h>

#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <optional>

#include "bias_act.h"

namespace {

s2edit::bias_act::DType dtype_of(const torch::Tensor& x) {
    const auto t = x.scalar_type();
    TORCH_CHECK(t == torch::kHalf || t == torch::kFloat || t == torch::kDouble,
                "bias_act: x must be float16, float32 or float64, got ", t);
    using s2edit::bias_act::DType;
    return t == torch::kHalf ? DType::f16 : t == torch::kFloat ? DType::f32 : DType::f64;
}

bool is_dense(const torch::Tensor& x) {
    return x.is_contiguous() || x.is_contiguous(at::MemoryFormat::ChannelsLast) ||
           x.is_contiguous(at::MemoryFormat::ChannelsLast3d);
}

// xref, yref and dy are read at the same memory offsets as x.
const void* same_layout(const std::optional<torch::Tensor>& t, const torch::Tensor& x, const char* name) {
    if (!t.has_value() || !t->defined()) return nullptr;
    TORCH_CHECK(t->device() == x.device(), "bias_act: ", name, " is on ", t->device(), " but x is on ", x.device());
    TORCH_CHECK(t->scalar_type() == x.scalar_type(), "bias_act: ", name, " has dtype ", t->scalar_type(),
                " but x has ", x.scalar_type());
    TORCH_CHECK(t->sizes() == x.sizes() && t->strides() == x.strides(), "bias_act: ", name, " must have the shape ",
                x.sizes(), " and strides ", x.strides(), " of x, got ", t->sizes(), " and ", t->strides());
    return t->data_ptr();
}

torch::Tensor bias_act(torch::Tensor x, std::optional<torch::Tensor> b, std::optional<torch::Tensor> xref,
                       std::optional<torch::Tensor> yref, std::optional<torch::Tensor> dy, int64_t grad, int64_t dim,
                       int64_t act, double alpha, double gain, double clamp) {
    TORCH_CHECK(x.is_cuda(), "bias_act: x must be a CUDA tensor, got one on ", x.device());
    const auto dtype = dtype_of(x);
    TORCH_CHECK(is_dense(x), "bias_act: x must be contiguous (or channels-last contiguous), got strides ",
                x.strides(), " for shape ", x.sizes());
    TORCH_CHECK(grad >= 0 && grad <= 2, "bias_act: grad must be 0, 1 or 2, got ", grad);
    TORCH_CHECK(act >= s2edit::bias_act::kLinear && act <= s2edit::bias_act::kSwish,
                "bias_act: unknown activation index ", act);
    TORCH_CHECK(grad < 2 || (dy.has_value() && dy->defined()), "bias_act: grad=2 needs dy");

    s2edit::bias_act::Params p{};
    p.x = x.data_ptr();
    p.b = nullptr;
    p.size_b = 1;
    p.step_b = 1;
    if (b.has_value() && b->defined()) {
        TORCH_CHECK(b->device() == x.device(), "bias_act: b is on ", b->device(), " but x is on ", x.device());
        TORCH_CHECK(b->scalar_type() == x.scalar_type(), "bias_act: b has dtype ", b->scalar_type(),
                    " but x has ", x.scalar_type());
        TORCH_CHECK(dim >= 0 && dim < x.dim(), "bias_act: dim must be in [0, ", x.dim(), ") for x of shape ",
                    x.sizes(), ", got ", dim);
        TORCH_CHECK(b->dim() == 1 && b->size(0) == x.size(dim), "bias_act: b must have shape [", x.size(dim),
                    "] (x.shape[", dim, "]), got ", b->sizes());
        TORCH_CHECK(b->is_contiguous(), "bias_act: b must be contiguous");
        p.b = b->data_ptr();
        p.size_b = b->size(0);
        p.step_b = x.stride(dim) > 0 ? x.stride(dim) : 1;
    }
    p.xref = same_layout(xref, x, "xref");
    p.yref = same_layout(yref, x, "yref");
    p.dy = same_layout(dy, x, "dy");
    p.grad = static_cast<int>(grad);
    p.act = static_cast<int>(act);
    p.alpha = alpha;
    p.gain = gain;
    p.clamp = clamp;
    p.size_x = x.numel();

    torch::Tensor y = torch::empty_like(x);  // keeps the strides of a dense x
    if (x.numel() == 0) return y;
    p.y = y.data_ptr();
    const c10::cuda::CUDAGuard guard(x.device());
    C10_CUDA_CHECK(s2edit::bias_act::launch(p, dtype, c10::cuda::getCurrentCUDAStream().stream()));
    return y;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("bias_act", &bias_act, "Fused bias + activation + gain + clamp, or its first or second derivative",
          pybind11::arg("x"), pybind11::arg("b"), pybind11::arg("xref"), pybind11::arg("yref"), pybind11::arg("dy"),
          pybind11::arg("grad"), pybind11::arg("dim"), pybind11::arg("act"), pybind11::arg("alpha"),
          pybind11::arg("gain"), pybind11::arg("clamp"));
}
