"""The one place that converts between library images and uint8 pixels.

Library images are NCHW float32 in [-1, 1]; files hold HWC uint8. The conversion
matches the official ``generate.py`` exactly (``x * 127.5 + 128``, clamp, truncating
cast) so that the same seed gives byte-identical PNGs.
"""

import numpy as np
import torch

from .errors import ShapeError

__all__ = ["to_uint8", "from_uint8"]


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """NCHW float in [-1, 1] -> NHWC uint8 (official rounding)."""
    if images.ndim != 4:
        raise ShapeError(f"expected NCHW images, got shape {tuple(images.shape)}")
    x = images.detach().float().permute(0, 2, 3, 1) * 127.5 + 128
    return x.clamp(0, 255).to(torch.uint8).cpu().numpy()


def from_uint8(pixels: np.ndarray) -> torch.Tensor:
    """NHWC or HWC uint8 -> NCHW float32 in [-1, 1]."""
    arr = np.asarray(pixels)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4:
        raise ShapeError(f"expected HWC or NHWC pixels, got shape {arr.shape}")
    x = torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1
