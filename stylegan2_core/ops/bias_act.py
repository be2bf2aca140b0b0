"""Fused bias + activation + gain + clamp, the epilogue of every StyleGAN2 layer."""

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ._dispatch import resolve

__all__ = ["ActivationSpec", "ACTIVATIONS", "bias_act"]


@dataclass(frozen=True)
class ActivationSpec:
    func: Callable
    def_alpha: float
    def_gain: float
    cuda_idx: int  # index of the activation in the CUDA kernel
    ref: str  # 'x' or 'y': which tensor the kernel's gradient needs
    has_2nd_grad: bool


ACTIVATIONS: dict[str, ActivationSpec] = {
    "linear": ActivationSpec(lambda x, **_: x, 0, 1, 1, "", False),
    "relu": ActivationSpec(lambda x, **_: F.relu(x), 0, np.sqrt(2), 2, "y", False),
    "lrelu": ActivationSpec(lambda x, alpha, **_: F.leaky_relu(x, alpha), 0.2, np.sqrt(2), 3, "y", False),
    "tanh": ActivationSpec(lambda x, **_: torch.tanh(x), 0, 1, 4, "y", True),
    "sigmoid": ActivationSpec(lambda x, **_: torch.sigmoid(x), 0, 1, 5, "y", True),
    "elu": ActivationSpec(lambda x, **_: F.elu(x), 0, 1, 6, "y", True),
    "selu": ActivationSpec(lambda x, **_: F.selu(x), 0, 1, 7, "y", True),
    "softplus": ActivationSpec(lambda x, **_: F.softplus(x), 0, 1, 8, "y", True),
    "swish": ActivationSpec(lambda x, **_: torch.sigmoid(x) * x, 0, np.sqrt(2), 9, "x", True),
}


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
    if act not in ACTIVATIONS:
        raise ValueError(f"bias_act: unknown activation {act!r}; expected one of {', '.join(ACTIVATIONS)}")
    if resolve("bias_act", x, impl) == "cuda":
        return _bias_act_cuda(dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp).apply(x, b)
    return _bias_act_ref(x, b, dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp)


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
