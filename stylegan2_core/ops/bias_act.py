"""Fused bias + activation + gain + clamp, the epilogue of every StyleGAN2 layer."""

import torch

from ..errors import InputError, ShapeError
from ._activations import ACTIVATIONS, ActivationSpec
from ._dispatch import resolve

__all__ = ["ActivationSpec", "ACTIVATIONS", "bias_act"]


def bias_act(x, b=None, dim=1, act="linear", alpha=None, gain=None, clamp=None, impl=None):
    """Add bias ``b`` along ``dim`` of ``x``, apply ``act``, scale by ``gain``, clamp to ±``clamp``.

    Args:
        x: input tensor of any shape.
        b: bias of shape ``[x.shape[dim]]`` or None.
        dim: the dimension ``b`` runs along.
        act: one of ``ACTIVATIONS``.
        alpha: activation shape parameter (lrelu slope); None means the activation's default.
        gain: output scale; None means the activation's default (sqrt(2) for lrelu).
        clamp: clamp the output to [-clamp, clamp]; None disables.
        impl: 'auto' | 'cuda' | 'ref' or None for the dispatch default.
    Returns:
        Tensor of the same shape and dtype as ``x``.
    """
    _check_arguments(x, b, dim, act, clamp)
    if resolve("bias_act", x, impl) == "cuda":
        return _bias_act_cuda(dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp).apply(x, b)
    return _bias_act_ref(x, b, dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp)


def _check_arguments(x, b, dim, act, clamp) -> None:
    """The official op's asserts, raised as the project's errors before either implementation runs."""
    if act not in ACTIVATIONS:
        raise InputError(f"bias_act: unknown activation {act!r}; expected one of {', '.join(ACTIVATIONS)}")
    if not isinstance(x, torch.Tensor):
        raise InputError(f"bias_act: x must be a tensor, got {type(x).__name__}")
    if clamp is not None and not clamp >= 0:
        raise InputError(f"bias_act: clamp must be None or >= 0, got {clamp}")
    if b is None:
        return
    if not 0 <= dim < x.ndim:
        raise ShapeError(f"bias_act: dim must be in [0, {x.ndim}) for x of shape {list(x.shape)}, got {dim}")
    if not isinstance(b, torch.Tensor) or b.ndim != 1 or b.shape[0] != x.shape[dim]:
        raise ShapeError(f"bias_act: b must have shape [{x.shape[dim]}] (x.shape[{dim}]), "
                         f"got {list(getattr(b, 'shape', [type(b).__name__]))}")


def _bias_act_ref(x, b=None, dim=1, act="linear", alpha=None, gain=None, clamp=None):
    spec = ACTIVATIONS[act]
    alpha = float(alpha if alpha is not None else spec.def_alpha)
    gain = float(gain if gain is not None else spec.def_gain)
    clamp = float(clamp if clamp is not None else -1)
    if b is not None:
        x = x + b.reshape([-1 if i == dim else 1 for i in range(x.ndim)])
    x = spec.func(x, alpha=alpha)
    if gain != 1:
        x = x * gain
    if clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def _bias_act_cuda(dim, act, alpha, gain, clamp):
    from ._bias_act_cuda import bias_act_function

    return bias_act_function(dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp)
