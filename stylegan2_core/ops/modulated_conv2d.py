"""Modulated convolution with weight demodulation (StyleGAN2, section 2.2)."""

import numpy as np
import torch

from ..errors import ShapeError
from .conv2d_resample import conv2d_resample

__all__ = ["modulated_conv2d"]


def modulated_conv2d(x, weight, styles, noise=None, up=1, down=1, padding=0, resample_filter=None,
                     demodulate=True, flip_weight=True, fused_modconv=True, impl=None):
    """Scale the input channels of ``weight`` per sample by ``styles``, optionally demodulate, convolve.

    The fused path folds the styles into per-sample weights and runs one grouped
    convolution; the non-fused path scales activations instead (cheaper for large
    batches and when training). Both compute the same function.

    Args:
        x: NCHW input.
        weight: ``[out, in, kh, kw]``.
        styles: ``[N, in]``.
        noise: optional tensor added to the output (broadcast over channels).
        up, down, padding, resample_filter, flip_weight: as in ``conv2d_resample``.
        demodulate: normalize each output channel's per-sample weights to unit norm.
        fused_modconv: use the grouped-convolution path.
        impl: op implementation for the FIR part.
    Shape:
        Output ``[N, out, H', W']``.
    """
    if x.ndim != 4 or weight.ndim != 4:
        raise ShapeError(f"modulated_conv2d: x and weight must be 4-D, got {list(x.shape)} and {list(weight.shape)}")
    batch_size = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    if x.shape[1] != in_channels:
        raise ShapeError(f"modulated_conv2d: x has {x.shape[1]} channels, weight expects {in_channels}")
    if styles.shape != (batch_size, in_channels):
        raise ShapeError(f"modulated_conv2d: styles must be [{batch_size}, {in_channels}], got {tuple(styles.shape)}")

    # Pre-normalize in fp16 so that the per-sample weights cannot overflow.
    if x.dtype == torch.float16 and demodulate:
        weight = weight * (1 / np.sqrt(in_channels * kh * kw) / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)

    w = None
    dcoefs = None
    if demodulate or fused_modconv:
        w = weight.unsqueeze(0) * styles.reshape(batch_size, 1, -1, 1, 1)
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()
    if demodulate and fused_modconv:
        w = w * dcoefs.reshape(batch_size, -1, 1, 1, 1)

    if not fused_modconv:
        x = x * styles.to(x.dtype).reshape(batch_size, -1, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), f=resample_filter, up=up, down=down, padding=padding,
                            flip_weight=flip_weight, impl=impl)
        if demodulate:
            x = x * dcoefs.to(x.dtype).reshape(batch_size, -1, 1, 1)
        if noise is not None:
            x = x + noise.to(x.dtype)
        return x

    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_channels, kh, kw)
    x = conv2d_resample(x, w.to(x.dtype), f=resample_filter, up=up, down=down, padding=padding,
                        groups=batch_size, flip_weight=flip_weight, impl=impl)
    x = x.reshape(batch_size, -1, *x.shape[2:])
    if noise is not None:
        x = x + noise
    return x
