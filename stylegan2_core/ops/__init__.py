"""Generator ops: one public function each, dispatched between the reference path and CUDA kernels."""

from ._dispatch import IMPLS, status, use_impl
from .bias_act import ACTIVATIONS, bias_act
from .conv2d_resample import conv2d_resample
from .filtered_lrelu import filtered_lrelu
from .modulated_conv2d import modulated_conv2d
from .upfirdn2d import downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d

__all__ = [
    "IMPLS",
    "ACTIVATIONS",
    "bias_act",
    "conv2d_resample",
    "downsample2d",
    "filter2d",
    "filtered_lrelu",
    "modulated_conv2d",
    "setup_filter",
    "status",
    "upfirdn2d",
    "upsample2d",
    "use_impl",
]
