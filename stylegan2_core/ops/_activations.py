"""The activation table of bias_act: each activation's function, defaults and CUDA kernel index.

A leaf module, shared by the reference path (``bias_act``) and the CUDA wrapper (``_bias_act_cuda``)
so that the two never import each other.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["ActivationSpec", "ACTIVATIONS"]


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
