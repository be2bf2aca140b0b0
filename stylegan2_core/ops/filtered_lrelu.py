"""Filtered leaky ReLU, the nonlinearity of every StyleGAN3 layer (Karras et al. 2021, section 3.2).

Bias, then upsampling by ``up`` with the anti-imaging filter ``fu``, leaky ReLU with gain and clamp at the
higher rate, then low-pass filtering with ``fd`` and downsampling by ``down``: the activation is applied where
the band it creates can be represented, and filtered away before it aliases.
"""

import numpy as np

from ..errors import InputError, ShapeError
from ._dispatch import resolve
from ._params import filter_size, parse_padding, parse_scaling
from .bias_act import bias_act
from .upfirdn2d import upfirdn2d

__all__ = ["filtered_lrelu", "filtered_lrelu_output_size"]

SQRT2 = float(np.sqrt(2))  # the default gain: that of leaky ReLU


def filtered_lrelu_output_size(in_size, fu=None, fd=None, up=1, down=1, padding=0) -> tuple[int, int]:
    """``(width, height)`` of ``filtered_lrelu``'s output for an input of ``in_size`` ``(width, height)``."""
    upx, upy = parse_scaling(up, "up", "filtered_lrelu")
    downx, downy = parse_scaling(down, "down", "filtered_lrelu")
    px0, px1, py0, py1 = parse_padding(padding, "filtered_lrelu")
    fu_w, fu_h = filter_size(fu, "filtered_lrelu")
    fd_w, fd_h = filter_size(fd, "filtered_lrelu")
    in_w, in_h = in_size
    out_w = (in_w * upx + px0 + px1 - (fu_w - 1) - (fd_w - 1) + (downx - 1)) // downx
    out_h = (in_h * upy + py0 + py1 - (fu_h - 1) - (fd_h - 1) + (downy - 1)) // downy
    return out_w, out_h


def filtered_lrelu(x, fu=None, fd=None, b=None, up=1, down=1, padding=0, gain=SQRT2, slope=0.2, clamp=None,
                   flip_filter=False, impl=None):
    """Bias, upsample (``fu``), leaky ReLU x ``gain`` clamped to ±``clamp``, filter (``fd``) and downsample.

    Args:
        x: NCHW input.
        fu, fd: up- and downsampling FIR filters, 1-D (separable) or 2-D, or None for none.
        b: bias ``[C]`` or None.
        up, down: integer factors.
        padding: int, ``[x, y]`` or ``[x0, x1, y0, y1]`` applied to the upsampled image (negative crops).
        gain, slope: leaky ReLU output scale and negative slope (``slope=1``: linear).
        clamp: clamp the activation to [-clamp, clamp]; None disables.
        flip_filter: False = convolution, True = correlation.
        impl: 'auto' | 'ref' or None for the dispatch default; this op has no CUDA kernel ('cuda' raises).
    Returns:
        NCHW tensor of size ``filtered_lrelu_output_size``, in ``x``'s dtype.
    """
    if x.ndim != 4:
        raise ShapeError(f"filtered_lrelu: expected an NCHW tensor, got {list(x.shape)}")
    if clamp is not None and not clamp >= 0:
        raise InputError(f"filtered_lrelu: clamp must be None or >= 0, got {clamp}")
    out_w, out_h = filtered_lrelu_output_size((x.shape[3], x.shape[2]), fu, fd, up, down, padding)
    if out_w < 1 or out_h < 1:
        raise ShapeError(f"filtered_lrelu: padding {padding} leaves no output for an input of {list(x.shape[2:])}")
    resolve("filtered_lrelu", x, impl)
    sub_impl = "ref" if impl == "ref" else None
    upx, upy = parse_scaling(up, "up", "filtered_lrelu")
    if b is not None:
        x = bias_act(x, b, impl=sub_impl)
    x = upfirdn2d(x, fu, up=up, padding=padding, gain=upx * upy, flip_filter=flip_filter, impl=sub_impl)
    x = bias_act(x, act="lrelu", alpha=slope, gain=gain, clamp=clamp, impl=sub_impl)
    return upfirdn2d(x, fd, down=down, flip_filter=flip_filter, impl=sub_impl)
