"""Generator quality metrics: FD-EffNetLite0 and perceptual path length in W.

* ``FD-EffNetLite0``: the Fréchet distance between Gaussians fitted to pooled
  EfficientNet-Lite0 features of generated and real images. It has the form of FID
  but not its network (FID uses Inception-v3), so it is not FID and its values are
  not comparable with published FIDs.
* ``PPL-W``: the StyleGAN2 paper's perceptual path length in W: pairs w0, w1 of mapped
  latents, images at lerp(w0, w1, t) and lerp(w0, w1, t + eps) with the same noise,
  distance d / eps² (eps = 1e-4), samples outside the 1st-99th percentile rejected,
  then the mean. ``sampling="end"`` (t = 0, the paper's choice) or ``"full"`` (t ~ U[0, 1]);
  ``crop`` takes the paper's central face crop. The perceptual distance is pluggable; its
  name is part of the metric name, since values from different networks do not compare
  (the paper uses LPIPS VGG16).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from stylegan2_core.image import from_uint8, to_uint8
from stylegan2_core.networks import Generator

__all__ = ["MetricResult", "generate_images", "real_feature_stats", "fd_effnet_lite0", "ppl_w", "filtered_mean"]


@dataclass
class MetricResult:
    name: str
    value: float
    details: dict = field(default_factory=dict)


def _gen(seed: int, device: torch.device) -> torch.Generator:
    g = torch.Generator(device)
    g.manual_seed(seed)
    return g


@torch.no_grad()
def generate_images(G: Generator, num: int, seed: int = 0, batch_size: int = 32, truncation_psi: float = 1.0,
                    device: torch.device | str = "cpu") -> Iterator[torch.Tensor]:
    """``num`` images from seeded z and random noise, quantised to uint8 like real images; NCHW [-1, 1] batches."""
    device = torch.device(device)
    g = _gen(seed, device)
    for start in range(0, num, batch_size):
        n = min(batch_size, num - start)
        z = torch.randn([n, G.z_dim], generator=g, device=device)
        noise = [torch.randn([n, 1, h, w], generator=g, device=device) for h, w in G.synthesis.noise_shapes()]
        ws = G.mapping(z, None, truncation_psi=truncation_psi)
        yield from_uint8(to_uint8(G.synthesis(ws, noise=noise)))


def _batches(source, indices, batch_size: int) -> Iterator[torch.Tensor]:
    for start in range(0, len(indices), batch_size):
        yield from_uint8(np.stack([source[i] for i in indices[start:start + batch_size]]))


def real_feature_stats(source, num: int, start: int = 0, batch_size: int = 32, device: torch.device | str = "cpu",
                       extractor=None) -> tuple[np.ndarray, np.ndarray, int]:
    """Feature mean, covariance and count of ``source[start .. start + num - 1]`` (HWC uint8 items)."""
    from projector.metrics.features import FeatureExtractor, feature_stats

    if hasattr(source, "__len__"):
        num = min(num, len(source) - start)
    extractor = extractor or FeatureExtractor(device)
    return feature_stats(_batches(source, list(range(start, start + num)), batch_size), extractor)


def fd_effnet_lite0(G: Generator, real_stats, num: int, seed: int = 0, batch_size: int = 32,
                    device: torch.device | str = "cpu", extractor=None) -> MetricResult:
    """FD-EffNetLite0 between ``num`` generated images and precomputed real statistics ``(mu, sigma, n)``."""
    from projector.metrics.features import (
        METRIC_SHORT_NAME,
        FeatureExtractor,
        feature_stats,
        frechet_distance,
    )

    extractor = extractor or FeatureExtractor(device)
    mu, sigma, n = feature_stats(generate_images(G, num, seed, batch_size, device=device), extractor)
    value = frechet_distance(mu, sigma, real_stats[0], real_stats[1])
    return MetricResult(METRIC_SHORT_NAME, value, {"num_generated": n, "num_real": int(real_stats[2])})


def filtered_mean(values, lo: float = 1, hi: float = 99) -> float:
    """Mean of the values between the ``lo``-th (rounded down) and ``hi``-th (rounded up) percentiles."""
    values = np.asarray(values, np.float64)
    low = np.percentile(values, lo, method="lower")
    high = np.percentile(values, hi, method="higher")
    return float(values[(values >= low) & (values <= high)].mean())


def _crop_and_shrink(img: torch.Tensor, crop: bool) -> torch.Tensor:
    if crop:
        c = img.shape[2] // 8
        img = img[:, :, c * 3:c * 7, c * 2:c * 6]
    factor = img.shape[2] // 256
    if factor > 1:  # the paper measures at 256 px
        img = img.reshape(img.shape[0], img.shape[1], img.shape[2] // factor, factor,
                          img.shape[3] // factor, factor).mean([3, 5])
    return img


@torch.no_grad()
def ppl_w(G: Generator, num_samples: int, epsilon: float = 1e-4, sampling: str = "end", crop: bool = False,
          distance=None, batch_size: int = 16, seed: int = 0, device: torch.device | str = "cpu") -> MetricResult:
    """Perceptual path length in W (see the module docstring); ``distance(a, b) -> [N]`` defaults to EffNet-Lite0."""
    if sampling not in ("end", "full"):
        raise ValueError(f"sampling must be 'end' or 'full', got {sampling!r}")
    device = torch.device(device)
    if distance is None:
        from projector.losses import EffNetPerceptual

        distance = EffNetPerceptual(device)
    g = _gen(seed, device)
    dists = []
    for start in range(0, num_samples, batch_size):
        n = min(batch_size, num_samples - start)
        t = torch.rand([n, 1, 1], generator=g, device=device) * (1.0 if sampling == "full" else 0.0)
        z = torch.randn([2 * n, G.z_dim], generator=g, device=device)
        w0, w1 = G.mapping(z, None).chunk(2)
        ws = torch.cat([w0.lerp(w1, t), w0.lerp(w1, t + epsilon)])
        noise = [torch.randn([n, 1, h, w], generator=g, device=device).repeat(2, 1, 1, 1)
                 for h, w in G.synthesis.noise_shapes()]
        img = _crop_and_shrink(G.synthesis(ws, noise=noise), crop)
        dists.append((distance(img[:n], img[n:]) / epsilon**2).double().cpu())
    name = getattr(distance, "name", type(distance).__name__)
    value = filtered_mean(torch.cat(dists).numpy())
    return MetricResult(f"PPL-W-{name}", value, {"distance": name, "epsilon": epsilon, "sampling": sampling,
                                                 "crop": crop, "num_samples": num_samples})
