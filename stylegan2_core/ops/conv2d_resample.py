"""2D convolution with optional FIR up/downsampling, composed from conv2d and upfirdn2d."""

import torch
import torch.nn.functional as F

from ..errors import InputError, ShapeError
from ._params import filter_size, parse_padding
from .upfirdn2d import upfirdn2d

__all__ = ["conv2d_resample"]


def _conv2d(x, w, stride=1, padding=0, groups=1, transpose=False, flip_weight=True):
    kh, kw = w.shape[2:]
    if not flip_weight and (kw > 1 or kh > 1):
        w = w.flip([2, 3])
    op = F.conv_transpose2d if transpose else F.conv2d
    return op(x, w, stride=stride, padding=padding, groups=groups)


def _check_arguments(x, w, up, down, groups) -> None:
    """The official op's asserts, raised as the project's errors."""
    for name, t in (("x", x), ("w", w)):
        if not isinstance(t, torch.Tensor) or t.ndim != 4:
            got = list(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ShapeError(f"conv2d_resample: {name} must be a 4-D tensor, got {got}")
    for name, value in (("up", up), ("down", down), ("groups", groups)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InputError(f"conv2d_resample: {name} must be an integer >= 1, got {value!r}")


def conv2d_resample(x, w, f=None, up=1, down=1, padding=0, groups=1, flip_weight=True, flip_filter=False, impl=None):
    """Convolve ``x`` with ``w`` while upsampling by ``up`` or downsampling by ``down`` through filter ``f``.

    Upsampling uses a strided transposed convolution followed by ``f``; downsampling
    applies ``f`` before a strided convolution, as the official generator does.

    Args:
        x: NCHW input.
        w: weights ``[out, in // groups, kh, kw]``.
        f: FIR filter from ``setup_filter`` (None = identity).
        up, down: integer factors.
        padding: padding relative to the upsampled image.
        groups: grouped convolution.
        flip_weight: False = convolution, True = correlation (like torch conv2d).
        flip_filter: False = convolution with ``f``, True = correlation.
        impl: op implementation for the FIR part.
    Returns:
        NCHW tensor.
    """
    _check_arguments(x, w, up, down, groups)
    out_channels, in_channels_per_group, kh, kw = w.shape
    fw, fh = filter_size(f, "conv2d_resample")
    px0, px1, py0, py1 = parse_padding(padding, "conv2d_resample")

    # Padding relative to the filter and the resampling factors.
    if up > 1:
        px0 += (fw + up - 1) // 2
        px1 += (fw - up) // 2
        py0 += (fh + up - 1) // 2
        py1 += (fh - up) // 2
    if down > 1:
        px0 += (fw - down + 1) // 2
        px1 += (fw - down) // 2
        py0 += (fh - down + 1) // 2
        py1 += (fh - down) // 2

    # 1x1 kernels: resample on the cheaper side of the convolution.
    if kw == 1 and kh == 1 and (down > 1 and up == 1):
        x = upfirdn2d(x, f, down=down, padding=[px0, px1, py0, py1], flip_filter=flip_filter, impl=impl)
        return _conv2d(x, w, groups=groups, flip_weight=flip_weight)
    if kw == 1 and kh == 1 and (up > 1 and down == 1):
        x = _conv2d(x, w, groups=groups, flip_weight=flip_weight)
        return upfirdn2d(x, f, up=up, padding=[px0, px1, py0, py1], gain=up**2, flip_filter=flip_filter, impl=impl)

    # Downsampling only: filter, then strided convolution.
    if down > 1 and up == 1:
        x = upfirdn2d(x, f, padding=[px0, px1, py0, py1], flip_filter=flip_filter, impl=impl)
        return _conv2d(x, w, stride=down, groups=groups, flip_weight=flip_weight)

    # Upsampling: strided transposed convolution, then filter.
    if up > 1:
        if groups == 1:
            w = w.transpose(0, 1)
        else:
            w = w.reshape(groups, out_channels // groups, in_channels_per_group, kh, kw)
            w = w.transpose(1, 2)
            w = w.reshape(groups * in_channels_per_group, out_channels // groups, kh, kw)
        px0 -= kw - 1
        px1 -= kw - up
        py0 -= kh - 1
        py1 -= kh - up
        pxt = max(min(-px0, -px1), 0)
        pyt = max(min(-py0, -py1), 0)
        x = _conv2d(x, w, stride=up, padding=[pyt, pxt], groups=groups, transpose=True, flip_weight=not flip_weight)
        x = upfirdn2d(x, f, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain=up**2, flip_filter=flip_filter, impl=impl)
        if down > 1:
            x = upfirdn2d(x, f, down=down, flip_filter=flip_filter, impl=impl)
        return x

    # No resampling: plain convolution when the padding is symmetric.
    if up == 1 and down == 1 and px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:
        return _conv2d(x, w, padding=[py0, px0], groups=groups, flip_weight=flip_weight)

    # General case.
    x = upfirdn2d(x, f if up > 1 else None, up=up, padding=[px0, px1, py0, py1], gain=up**2, flip_filter=flip_filter, impl=impl)
    x = _conv2d(x, w, groups=groups, flip_weight=flip_weight)
    if down > 1:
        x = upfirdn2d(x, f, down=down, flip_filter=flip_filter, impl=impl)
    return x
