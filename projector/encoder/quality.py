"""How well an encoder inverts its generator's own samples: PSNR and latent error against the true ws."""

from __future__ import annotations

import torch

from stylegan2_core import sample_ws

from ..metrics.image_quality import psnr
from .network import Encoder

__all__ = ["inversion_quality"]


@torch.no_grad()
def inversion_quality(encoder: Encoder, G, num: int = 8, seed: int = 0, truncation_psi: float = 0.7,
                      passes: int | None = None) -> dict[str, float]:
    """Mean PSNR (dB) and latent MSE of ``encoder.invert`` on ``num`` seeded samples (const noise).

    ``psnr_start`` / ``latent_mse_start`` are the same measures for the starting point, w_avg,
    so a trained encoder should beat them.
    """
    true_ws = sample_ws(G, num=num, seed=seed, truncation_psi=truncation_psi)
    images = G.synthesis(true_ws, noise_mode="const")
    start = G.mapping.w_avg[None, None].expand_as(true_ws)
    ws = encoder.invert(images, G, passes=passes)
    render = G.synthesis(ws, noise_mode="const")
    start_render = G.synthesis(start, noise_mode="const")
    return {"psnr": float(psnr(render, images).mean()), "psnr_start": float(psnr(start_render, images).mean()),
            "latent_mse": float((ws - true_ws).square().mean()),
            "latent_mse_start": float((start - true_ws).square().mean())}
