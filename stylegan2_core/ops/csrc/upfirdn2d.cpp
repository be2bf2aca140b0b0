// Python binding of the upfirdn2d kernel: argument checks, output allocation, launch.

#include <torch/extension.h>

#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <cstdlib>

#include "upfirdn2d.h"

namespace {

// Bound on every pixel extent, so that sums of a few of them cannot overflow the kernels' 32-bit indices.
constexpr int64_t kMaxExtent = int64_t(1) << 28;

torch::Tensor upfirdn2d(torch::Tensor x, torch::Tensor f, int64_t up_x, int64_t up_y, int64_t down_x, int64_t down_y,
                        int64_t pad_x0, int64_t pad_x1, int64_t pad_y0, int64_t pad_y1, bool flip, double gain) {
    TORCH_CHECK(x.is_cuda(), "upfirdn2d: x must be a CUDA tensor, got one on ", x.device());
    TORCH_CHECK(x.dim() == 4, "upfirdn2d: x must be NCHW, got shape ", x.sizes());
    const auto t = x.scalar_type();
    TORCH_CHECK(t == torch::kHalf || t == torch::kFloat || t == torch::kDouble,
                "upfirdn2d: x must be float16, float32 or float64, got ", t);
    const auto filter_type = t == torch::kDouble ? torch::kDouble : torch::kFloat;
    TORCH_CHECK(f.device() == x.device(), "upfirdn2d: f is on ", f.device(), " but x is on ", x.device());
    TORCH_CHECK(f.scalar_type() == filter_type, "upfirdn2d: f must be ", filter_type, " for ", t, " input, got ",
                f.scalar_type());
    TORCH_CHECK(f.dim() == 2 && f.size(0) >= 1 && f.size(1) >= 1, "upfirdn2d: f must be a 2-D filter, got shape ",
                f.sizes());
    TORCH_CHECK(f.is_contiguous(), "upfirdn2d: f must be contiguous");
    TORCH_CHECK(up_x >= 1 && up_y >= 1 && down_x >= 1 && down_y >= 1,
                "upfirdn2d: up and down factors must be >= 1, got up=(", up_x, ", ", up_y, ") down=(", down_x, ", ",
                down_y, ")");

    const int64_t in_h = x.size(2), in_w = x.size(3), fh = f.size(0), fw = f.size(1);
    const int64_t span_h = in_h * up_y + pad_y0 + pad_y1 - fh, span_w = in_w * up_x + pad_x0 + pad_x1 - fw;
    TORCH_CHECK(span_h >= 0 && span_w >= 0, "upfirdn2d: the padded, upsampled input (",
                in_h * up_y + pad_y0 + pad_y1, "x", in_w * up_x + pad_x0 + pad_x1,
                ") is smaller than the filter (", fh, "x", fw, ")");
    const int64_t out_h = span_h / down_y + 1, out_w = span_w / down_x + 1;
    for (const int64_t v : {in_h * up_y, in_w * up_x, out_h * down_y, out_w * down_x, std::abs(pad_x0),
                            std::abs(pad_x1), std::abs(pad_y0), std::abs(pad_y1), fh, fw})
        TORCH_CHECK(v < kMaxExtent, "upfirdn2d: sizes, factors and padding must stay below ", kMaxExtent,
                    " pixels (32-bit pixel indices)");

    s2edit::upfirdn2d::Params p{};
    p.x = x.data_ptr();
    p.f = f.data_ptr();
    p.up_x = static_cast<int>(up_x);
    p.up_y = static_cast<int>(up_y);
    p.down_x = static_cast<int>(down_x);
    p.down_y = static_cast<int>(down_y);
    p.pad_x0 = static_cast<int>(pad_x0);
    p.pad_y0 = static_cast<int>(pad_y0);
    p.flip = flip ? 1 : 0;
    p.gain = gain;
    p.n = x.size(0);
    p.c = x.size(1);
    p.in_h = static_cast<int>(in_h);
    p.in_w = static_cast<int>(in_w);
    p.out_h = static_cast<int>(out_h);
    p.out_w = static_cast<int>(out_w);
    p.fh = static_cast<int>(fh);
    p.fw = static_cast<int>(fw);

    torch::Tensor y = torch::empty({p.n, p.c, out_h, out_w}, x.options().memory_format(x.suggest_memory_format()));
    if (y.numel() == 0) return y;
    p.y = y.data_ptr();
    for (int d = 0; d < 4; d++) {
        p.x_stride[d] = x.stride(d);
        p.y_stride[d] = y.stride(d);
    }
    const c10::cuda::CUDAGuard guard(x.device());
    using s2edit::upfirdn2d::DType;
    const DType dtype = t == torch::kHalf ? DType::f16 : t == torch::kFloat ? DType::f32 : DType::f64;
    C10_CUDA_CHECK(s2edit::upfirdn2d::launch(p, dtype, c10::cuda::getCurrentCUDAStream().stream()));
    return y;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("upfirdn2d", &upfirdn2d, "Upsample, pad, FIR-filter and downsample a batch of 2-D images",
          pybind11::arg("x"), pybind11::arg("f"), pybind11::arg("up_x"), pybind11::arg("up_y"), pybind11::arg("down_x"),
          pybind11::arg("down_y"), pybind11::arg("pad_x0"), pybind11::arg("pad_x1"), pybind11::arg("pad_y0"),
          pybind11::arg("pad_y1"), pybind11::arg("flip"), pybind11::arg("gain"));
}
