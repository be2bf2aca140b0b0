"""Feature statistics and the Fréchet distance on EfficientNet-Lite0 features.

The metric is the Fréchet distance between Gaussians fitted to the 1280-d pooled
EfficientNet-Lite0 features of two image sets ("FD-EffNetLite0"). It has the form of
FID but not its feature network (FID uses Inception-v3), so its values are not FID
values and must not be reported as such.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F

from stylegan2_core.errors import S2EditError, ShapeError

from .._efficientnet_lite import (
    HEAD_CHANNELS,
    EfficientNetLite0,
    load_efficientnet_lite0,
)

__all__ = [
    "METRIC_NAME",
    "METRIC_SHORT_NAME",
    "FeatureExtractor",
    "feature_stats",
    "frechet_distance",
]

METRIC_NAME = "Fréchet distance on EfficientNet-Lite0 features"
METRIC_SHORT_NAME = "FD-EffNetLite0"

_INPUT_SIZE = 224


class FeatureExtractor:
    """NCHW images in [-1, 1] -> ``[N, 1280]`` float64 pooled EfficientNet-Lite0 features.

    Images are resized to 224x224 (the network's training size; bilinear, antialiased)
    and processed ``batch_size`` at a time without gradients.
    """

    def __init__(
        self,
        device: str | torch.device = "cpu",
        batch_size: int = 32,
        net: EfficientNetLite0 | None = None,
    ):
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.net = net if net is not None else load_efficientnet_lite0(self.device)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> np.ndarray:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ShapeError(f"expected NCHW RGB images, got shape {tuple(images.shape)}")
        out = []
        for chunk in images.split(self.batch_size):
            x = chunk.to(self.device, torch.float32)
            if tuple(x.shape[-2:]) != (_INPUT_SIZE, _INPUT_SIZE):
                x = F.interpolate(
                    x, size=(_INPUT_SIZE, _INPUT_SIZE), mode="bilinear", antialias=True, align_corners=False
                )
            out.append(self.net.pooled(x).double().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, HEAD_CHANNELS))


def feature_stats(
    images_iter: Iterable[torch.Tensor], extractor: FeatureExtractor | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Mean, covariance (unbiased, as ``np.cov``) and count of the features of all images.

    ``images_iter`` yields NCHW batches in [-1, 1]; only running sums are kept, so the
    image set may be larger than memory. Needs at least two images.
    """
    extractor = extractor if extractor is not None else FeatureExtractor()
    n = 0
    total = None
    outer = None
    for images in images_iter:
        feats = extractor(images)
        if total is None:
            total = np.zeros(feats.shape[1])
            outer = np.zeros((feats.shape[1], feats.shape[1]))
        n += feats.shape[0]
        total += feats.sum(axis=0)
        outer += feats.T @ feats
    if n < 2:
        raise S2EditError(f"feature statistics need at least 2 images, got {n}")
    mu = total / n
    sigma = (outer - n * np.outer(mu, mu)) / (n - 1)
    return mu, sigma, n


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    ``|mu1 - mu2|^2 + tr(sigma1 + sigma2 - 2 sqrt(sigma1 sigma2))``, computed as in the
    reference FID code: if the matrix square root of a (near-)singular product is not
    finite, ``eps`` is added to both diagonals and it is retried; numerical imaginary
    parts are dropped (an ``S2EditError`` if they are not negligible). Rounding can make
    the value of two equal distributions slightly negative; it is clamped to 0.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ShapeError(
            f"inconsistent statistics: mu {mu1.shape} / {mu2.shape}, sigma {sigma1.shape} / {sigma2.shape}"
        )
    diff = mu1 - mu2
    with warnings.catch_warnings():
        # A singular product only warns; the finiteness check below handles it.
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
        if not np.isfinite(covmean).all():
            offset = np.eye(d) * eps
            covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        imag = np.abs(np.diagonal(covmean).imag).max()
        if imag > 1e-3:
            raise S2EditError(f"Fréchet distance: matrix square root has a large imaginary part ({imag:.3g})")
        covmean = covmean.real
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)
    return max(float(value), 0.0)
