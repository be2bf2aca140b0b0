"""Upsample, FIR-filter and downsample 2D images in one op, plus its common helpers."""

import torch
import torch.nn.functional as F

from ..errors import ShapeError
from ._dispatch import resolve
from ._params import filter_size, parse_padding, parse_scaling

__all__ = ["setup_filter", "upfirdn2d", "filter2d", "upsample2d", "downsample2d"]


def setup_filter(f, device="cpu", normalize=True, flip_filter=False, gain=1, separable=None):
    """Turn a list of taps into a filter tensor: 1-D taps become their outer product unless separable."""
    if f is None:
        f = 1
    f = torch.as_tensor(f, dtype=torch.float32)
    if f.ndim == 0:
        f = f[None]
    if separable is None:
        separable = f.ndim == 1 and f.numel() >= 8
    if f.ndim == 1 and not separable:
        f = f.ger(f)
    if normalize:
        f = f / f.sum()
    if flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f * (gain ** (f.ndim / 2))
    return f.to(device=device)


def upfirdn2d(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1, impl=None):
    """Upsample by zero insertion, pad, convolve with FIR filter ``f``, then keep every ``down``-th pixel.

    Args:
        x: NCHW input.
        f: float32 FIR filter, 2-D ``[fh, fw]`` or 1-D separable ``[taps]``; None for identity.
        up, down: integer factor or ``[x, y]`` pair.
        padding: int, ``[x, y]`` or ``[x0, x1, y0, y1]``; negative values crop.
        flip_filter: False = convolution, True = correlation.
        gain: overall scale of the output.
        impl: 'auto' | 'cuda' | 'ref' or None for the dispatch default.
    Returns:
        NCHW tensor.
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ShapeError(f"upfirdn2d: expected an NCHW tensor, got {list(getattr(x, 'shape', [type(x).__name__]))}")
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    filter_size(f)
    if resolve("upfirdn2d", x, impl) == "cuda":
        return _upfirdn2d_cuda(up=up, down=down, padding=padding, flip_filter=flip_filter, gain=gain).apply(x, f)
    return _upfirdn2d_ref(x, f, up=up, down=down, padding=padding, flip_filter=flip_filter, gain=gain)


def _upfirdn2d_ref(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1):
    upx, upy = parse_scaling(up, "up")
    downx, downy = parse_scaling(down, "down")
    padx0, padx1, pady0, pady1 = parse_padding(padding)
    batch, channels, in_h, in_w = x.shape

    # Upsample by inserting zeros.
    if upx > 1 or upy > 1:
        x = x.reshape([batch, channels, in_h, 1, in_w, 1])
        x = F.pad(x, [0, upx - 1, 0, 0, 0, upy - 1])
        x = x.reshape([batch, channels, in_h * upy, in_w * upx])

    # Pad or crop (skipped when it would only copy).
    pads = [max(padx0, 0), max(padx1, 0), max(pady0, 0), max(pady1, 0)]
    if any(pads):
        x = F.pad(x, pads)
    x = x[:, :, max(-pady0, 0): x.shape[2] - max(-pady1, 0), max(-padx0, 0): x.shape[3] - max(-padx1, 0)]

    # Convolve (a flipped correlation) with the filter.
    f = f * (gain ** (f.ndim / 2))
    f = f.to(x.dtype)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    # Downsampling keeps every down-th output pixel: a strided convolution computes only those.
    f = f[None, None].repeat([channels, 1] + [1] * f.ndim)
    if f.ndim == 4:
        return F.conv2d(x, f, groups=channels, stride=[downy, downx])
    x = F.conv2d(x, f.unsqueeze(2), groups=channels, stride=[1, downx])
    return F.conv2d(x, f.unsqueeze(3), groups=channels, stride=[downy, 1])


def _upfirdn2d_cuda(up, down, padding, flip_filter, gain):
    from ._upfirdn2d_cuda import upfirdn2d_function

    return upfirdn2d_function(up=up, down=down, padding=padding, flip_filter=flip_filter, gain=gain)


def filter2d(x, f, padding=0, flip_filter=False, gain=1, impl=None):
    """Filter with ``f`` keeping the image size (plus ``padding``)."""
    padx0, padx1, pady0, pady1 = parse_padding(padding)
    fw, fh = filter_size(f)
    p = [padx0 + fw // 2, padx1 + (fw - 1) // 2, pady0 + fh // 2, pady1 + (fh - 1) // 2]
    return upfirdn2d(x, f, padding=p, flip_filter=flip_filter, gain=gain, impl=impl)


def upsample2d(x, f, up=2, padding=0, flip_filter=False, gain=1, impl=None):
    """Upsample by ``up`` with anti-imaging filter ``f`` (gain corrected for the inserted zeros)."""
    upx, upy = parse_scaling(up, "up")
    padx0, padx1, pady0, pady1 = parse_padding(padding)
    fw, fh = filter_size(f)
    p = [
        padx0 + (fw + upx - 1) // 2,
        padx1 + (fw - upx) // 2,
        pady0 + (fh + upy - 1) // 2,
        pady1 + (fh - upy) // 2,
    ]
    return upfirdn2d(x, f, up=up, padding=p, flip_filter=flip_filter, gain=gain * upx * upy, impl=impl)


def downsample2d(x, f, down=2, padding=0, flip_filter=False, gain=1, impl=None):
    """Downsample by ``down`` with anti-aliasing filter ``f``."""
    downx, downy = parse_scaling(down, "down")
    padx0, padx1, pady0, pady1 = parse_padding(padding)
    fw, fh = filter_size(f)
    p = [
        padx0 + (fw - downx + 1) // 2,
        padx1 + (fw - downx) // 2,
        pady0 + (fh - downy + 1) // 2,
        pady1 + (fh - downy) // 2,
    ]
    return upfirdn2d(x, f, down=down, padding=p, flip_filter=flip_filter, gain=gain, impl=impl)
