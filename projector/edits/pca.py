"""GANSpace in W (Härkönen et al. 2020): principal components of mapped random z."""

from __future__ import annotations

import numpy as np
import torch

from stylegan2_core.errors import InputError
from stylegan2_core.latent import class_labels, sample_ws

from .direction_file import DirectionSet, model_sha256

__all__ = ["pca"]


@torch.no_grad()
def pca(G, num_samples: int = 10_000, seed: int = 0, k: int = 10, truncation_psi: float = 1.0,
        class_idx: int | None = None) -> DirectionSet:
    """GANSpace in W: principal components of w for ``num_samples`` z drawn with ``RandomState(seed)``.

    Values are the standard deviation of w along each component; ``meta['mean']`` is the sample mean w.
    """
    if not 1 <= k <= min(G.w_dim, num_samples):
        raise InputError(f"-k {k}: must be 1 .. min(w_dim={G.w_dim}, samples={num_samples})")
    ws = sample_ws(G, num=num_samples, seed=seed, truncation_psi=truncation_psi, c=class_labels(class_idx, G.c_dim))
    w = ws[:, 0].cpu().double().numpy()
    mean = w.mean(0)
    _, s, vt = np.linalg.svd(w - mean, full_matrices=False)
    dirs = vt[:k]
    dirs *= np.where(dirs[np.arange(k), np.abs(dirs).argmax(1)] < 0, -1.0, 1.0)[:, None]
    std = s[:k] / np.sqrt(max(num_samples - 1, 1))
    meta = {"model_sha256": model_sha256(G), "source": "pca", "num_samples": num_samples, "seed": seed,
            "truncation_psi": truncation_psi, "class_idx": class_idx, "mean": mean.astype(np.float32).tolist()}
    return DirectionSet(torch.from_numpy(dirs.copy()).float(), [f"pc{i}" for i in range(k)], "pca", None,
                        torch.from_numpy(std).float(), meta)


