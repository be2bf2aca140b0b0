"""Autograd wrappers of the bias_act CUDA kernel: forward, first and second derivatives.

The kernel's gradient modes take the forward input (``x``) or output (``y``), whichever the
activation's derivative is cheapest in (``ActivationSpec.ref``); only those are saved. The
output is also saved whenever ``clamp`` is set, because the clamped outputs pass no gradient.
"""

import torch

from ..errors import InputError, ShapeError
from . import _plugin
from ._activations import ACTIVATIONS

__all__ = ["bias_act_function"]

_functions: dict[tuple, type] = {}


def _dense(x: torch.Tensor) -> torch.Tensor:
    """``x`` itself if the kernel can index it linearly (contiguous or channels-last), else a contiguous copy."""
    if x.is_contiguous() or (x.ndim == 4 and x.is_contiguous(memory_format=torch.channels_last)):
        return x
    return x.contiguous()


def _like(t: torch.Tensor, ref: torch.Tensor | None) -> torch.Tensor:
    """``t`` laid out with the strides of ``ref``, which the kernel reads at the same offsets."""
    if ref is None:
        return _dense(t)
    if t.stride() == ref.stride():
        return t
    return torch.empty_like(ref).copy_(t)


def _check_arguments(x: torch.Tensor, b: torch.Tensor | None, dim: int) -> None:
    """The binding's checks, made here first: a failed check raises in Python, never inside the extension."""
    if x.dtype not in (torch.float16, torch.float32, torch.float64):
        raise InputError(f"bias_act: x must be float16, float32 or float64, got {x.dtype}")
    if b is None:
        return
    if b.device != x.device or b.dtype != x.dtype:
        raise InputError(f"bias_act: b ({b.dtype} on {b.device}) must match x ({x.dtype} on {x.device})")
    if not 0 <= dim < x.ndim:
        raise ShapeError(f"bias_act: dim must be in [0, {x.ndim}) for x of shape {list(x.shape)}, got {dim}")
    if b.ndim != 1 or b.shape[0] != x.shape[dim]:
        raise ShapeError(f"bias_act: b must have shape [{x.shape[dim]}] (x.shape[{dim}]), got {list(b.shape)}")


def bias_act_function(dim=1, act="linear", alpha=None, gain=None, clamp=None):
    """The autograd Function class for these static arguments (cached); ``.apply(x, b)`` runs the op."""
    spec = ACTIVATIONS[act]
    alpha = float(alpha if alpha is not None else spec.def_alpha)
    gain = float(gain if gain is not None else spec.def_gain)
    clamp = float(clamp if clamp is not None else -1)
    key = (dim, act, alpha, gain, clamp)
    if key in _functions:
        return _functions[key]

    save_x = "x" in spec.ref or spec.has_2nd_grad
    save_y = "y" in spec.ref or clamp >= 0
    identity = act == "linear" and gain == 1 and clamp < 0

    def kernel(x, b, xref, yref, dy, grad):
        plugin = _plugin.get_plugin("bias_act")
        return plugin.bias_act(x, b, xref, yref, dy, grad, dim, spec.cuda_idx, alpha, gain, clamp)

    def reduce_bias(t):
        return t.sum([i for i in range(t.ndim) if i != dim])

    class BiasActCuda(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, b):
            _check_arguments(x, b, dim)
            if identity and b is None:
                y = x
            else:
                y = kernel(_dense(x), b.contiguous() if b is not None else None, None, None, None, 0)
            # The inputs are saved as given: the dense copies are redone in backward, where they are
            # recorded, so that double backward reaches x and b.
            ctx.save_for_backward(x if save_x else None, b if save_x else None, y if save_y else None)
            return y

        @staticmethod
        def backward(ctx, dy):
            x, b, y = ctx.saved_tensors
            dx = db = None
            if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
                if identity:
                    dx = dy
                else:
                    x = _dense(x) if x is not None else None
                    b = b.contiguous() if b is not None else None
                    dx = BiasActCudaGrad.apply(_like(dy, y if y is not None else x), x, b, y)
            if ctx.needs_input_grad[1]:
                db = reduce_bias(dx)
            return dx, db

    class BiasActCudaGrad(torch.autograd.Function):
        """dx = dy * gain * f'(x + b), masked by the clamp; a Function of its own for double backward."""

        @staticmethod
        def forward(ctx, dy, x, b, y):
            dx = kernel(dy, b, x, y, None, 1)
            ctx.save_for_backward(dy if spec.has_2nd_grad else None, x, b, y)
            return dx

        @staticmethod
        def backward(ctx, d_dx):
            dy, x, b, y = ctx.saved_tensors
            d_dx = _like(d_dx, y if y is not None else x)
            d_dy = d_x = d_b = None
            if ctx.needs_input_grad[0]:
                d_dy = BiasActCudaGrad.apply(d_dx, x, b, y)
            if spec.has_2nd_grad and (ctx.needs_input_grad[1] or ctx.needs_input_grad[2]):
                d_x = kernel(d_dx, b, x, y, dy, 2)
            if spec.has_2nd_grad and ctx.needs_input_grad[2]:
                d_b = reduce_bias(d_x)
            # f'' is written in terms of x + b alone, so y (itself a function of x) gets no separate gradient.
            return d_dy, d_x, d_b, None

    _functions[key] = BiasActCuda
    return BiasActCuda
