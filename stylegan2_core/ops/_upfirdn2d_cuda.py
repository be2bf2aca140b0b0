"""Autograd wrapper of the upfirdn2d CUDA kernel.

The op is linear in ``x``; its adjoint is upfirdn2d again with ``up`` and ``down`` swapped, the
filter flipped and the padding from ``adjoint_padding``, so backward (and double backward) reuse
the same kernel. Separable 1-D filters run as two passes, one per axis.
"""

import torch

from ..errors import InputError, OpUnavailableError, ShapeError
from . import _plugin
from ._params import filter_size, parse_padding, parse_scaling

__all__ = ["upfirdn2d_function", "adjoint_padding"]

_functions: dict[tuple, type] = {}


def adjoint_padding(in_size, out_size, up, down, padding, filter_size):
    """Padding ``[x0, x1, y0, y1]`` of the upfirdn2d that computes the adjoint of a forward upfirdn2d.

    With ``y = upfirdn2d(x, f, up, down, padding)``, the adjoint (the gradient with respect to ``x``)
    is ``upfirdn2d(dy, f, up=down, down=up, padding=adjoint_padding(...), flip_filter=not flip_filter)``.
    Per axis: the forward output pixel ``o`` reads input pixel ``i`` through tap ``p0 + i*up - o*down``;
    the adjoint must read ``o`` from ``i`` through the same tap of the flipped filter, which fixes its
    leading padding at ``f - 1 - p0``; the trailing padding makes its output exactly ``in_size`` long.

    Args:
        in_size, out_size: ``(width, height)`` of the forward input and output.
        up, down: forward ``(x, y)`` factors.
        padding: forward ``[x0, x1, y0, y1]``.
        filter_size: ``(width, height)`` of the filter.
    """
    result = []
    for axis, (p0, _) in enumerate((padding[0:2], padding[2:4])):
        n_in, n_out, u, d, f = in_size[axis], out_size[axis], up[axis], down[axis], filter_size[axis]
        result += [f - 1 - p0, n_in * u - n_out * d + p0 - u + 1]
    return result


_MAX_EXTENT = 1 << 28  # the binding's bound on pixel extents (32-bit pixel indices)


def _check_arguments(x: torch.Tensor, f: torch.Tensor, up, down, padding) -> None:
    """The binding's checks, made here first: a failed check raises in Python, never inside the extension."""
    if x.dtype not in (torch.float16, torch.float32, torch.float64):
        raise InputError(f"upfirdn2d: x must be float16, float32 or float64, got {x.dtype}")
    if f.device != x.device:
        raise InputError(f"upfirdn2d: f is on {f.device} but x is on {x.device}")
    fw, fh = filter_size(f)
    (upx, upy), (downx, downy), (padx0, padx1, pady0, pady1) = up, down, padding
    in_h, in_w = x.shape[2], x.shape[3]
    padded_h, padded_w = in_h * upy + pady0 + pady1, in_w * upx + padx0 + padx1
    if padded_h < fh or padded_w < fw:
        raise ShapeError(f"upfirdn2d: the padded, upsampled input ({padded_h}x{padded_w}) is smaller than "
                           f"the filter ({fh}x{fw})")
    out_h, out_w = (padded_h - fh) // downy + 1, (padded_w - fw) // downx + 1
    extents = (in_h * upy, in_w * upx, out_h * downy, out_w * downx, fh, fw, *(abs(p) for p in padding))
    if max(extents) >= _MAX_EXTENT:
        raise ShapeError(f"upfirdn2d: sizes, factors and padding must stay below {_MAX_EXTENT} pixels "
                           "(32-bit pixel indices)")


def upfirdn2d_function(up=1, down=1, padding=0, flip_filter=False, gain=1):
    """The autograd Function class for these static arguments (cached); ``.apply(x, f)`` runs the op."""
    upx, upy = parse_scaling(up, "up")
    downx, downy = parse_scaling(down, "down")
    padx0, padx1, pady0, pady1 = parse_padding(padding)
    gain = float(gain)
    key = (upx, upy, downx, downy, padx0, padx1, pady0, pady1, bool(flip_filter), gain)
    if key in _functions:
        return _functions[key]

    class Upfirdn2dCuda(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, f):
            if f is None:
                f = torch.ones([1, 1], device=x.device)
            if f.ndim == 1 and f.shape[0] == 1:
                f = f.square().unsqueeze(0)  # a 1-tap separable filter is applied twice
            _check_arguments(x, f, (upx, upy), (downx, downy), (padx0, padx1, pady0, pady1))
            f = f.to(torch.float64 if x.dtype == torch.float64 else torch.float32).contiguous()
            kernel = _plugin.get_plugin("upfirdn2d").upfirdn2d
            if f.ndim == 2:
                y = kernel(x, f, upx, upy, downx, downy, padx0, padx1, pady0, pady1, flip_filter, gain)
            else:
                y = kernel(x, f.unsqueeze(0), upx, 1, downx, 1, padx0, padx1, 0, 0, flip_filter, 1.0)
                y = kernel(y, f.unsqueeze(1), 1, upy, 1, downy, 0, 0, pady0, pady1, flip_filter, gain)
            ctx.save_for_backward(f)
            ctx.x_shape = x.shape
            return y

        @staticmethod
        def backward(ctx, dy):
            if ctx.needs_input_grad[1]:
                raise OpUnavailableError("upfirdn2d: the CUDA kernel has no gradient for the filter; "
                                         "use impl='ref' for that")
            (f,) = ctx.saved_tensors
            dx = None
            if ctx.needs_input_grad[0]:
                in_size = (ctx.x_shape[3], ctx.x_shape[2])
                out_size = (dy.shape[3], dy.shape[2])
                p = adjoint_padding(in_size, out_size, (upx, upy), (downx, downy), [padx0, padx1, pady0, pady1],
                                    filter_size(f))
                adjoint = upfirdn2d_function(up=[downx, downy], down=[upx, upy], padding=p,
                                             flip_filter=not flip_filter, gain=gain)
                dx = adjoint.apply(dy, f)
            return dx, None

    _functions[key] = Upfirdn2dCuda
    return Upfirdn2dCuda
