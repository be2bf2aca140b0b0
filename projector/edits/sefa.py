"""SeFa (Shen & Zhou 2021): closed-form directions from the style-affine weights, no sampling.

The directions that change the styles the most are the top eigenvectors of AᵀA.
"""

from __future__ import annotations

import numpy as np
import torch

from stylegan2_core.errors import InputError

from ..latent_file import model_provenance
from .direction_file import DirectionSet

__all__ = ["style_affines", "sefa"]


def style_affines(G) -> list[tuple[str, int, torch.nn.Module]]:
    """Every style-affine layer as (name, ws index, module), in synthesis order.

    In block b4, conv1 reads ws 0 and torgb ws 1; in later blocks conv0, conv1 and torgb
    read ``w_idx``, ``w_idx+1`` and ``w_idx+2``, with ``w_idx`` advancing by the block's conv count.
    StyleGAN3: synthesis layer k (the last one is the ToRGB) reads ws k+1; the input's affine (ws 0)
    sets the Fourier features' rotation and translation, not styles, and is left out.
    """
    if hasattr(G.synthesis, "layer_names"):
        return [(name, k + 1, layer.affine) for k, (name, layer)
                in enumerate(zip(G.synthesis.layer_names, G.synthesis.layers))]
    layers = []
    w_idx = 0
    for res in G.synthesis.block_resolutions:
        block = getattr(G.synthesis, f"b{res}")
        i = w_idx
        for name in ("conv0", "conv1", "torgb"):
            module = getattr(block, name, None)
            if module is not None:
                layers.append((f"b{res}.{name}", i, module.affine))
                i += 1
        w_idx += block.num_conv
    return layers


def _check_layers(layers, num_ws: int) -> list[int] | None:
    if layers is None:
        return None
    layers = sorted({int(i) for i in layers})
    if not layers or layers[0] < 0 or layers[-1] >= num_ws:
        raise InputError(f"layers {layers}: must be a non-empty subset of 0 .. {num_ws - 1}")
    return layers


@torch.no_grad()
def sefa(G, layers: list[int] | None = None, k: int = 5) -> DirectionSet:
    """Closed-form factorization: top-``k`` eigenvectors of AᵀA.

    A stacks (along the output-feature axis) the effective weights ``affine.weight · weight_gain``
    of every style-affine layer whose ws index is in ``layers`` (None = all), so the directions
    are the unit w-offsets that move those layers' styles the most. Values are the eigenvalues.
    """
    layers = _check_layers(layers, G.num_ws)
    chosen = [m for _, i, m in style_affines(G) if layers is None or i in layers]
    if not chosen:
        raise InputError(f"layers {layers}: no style-affine layer reads them (StyleGAN3's ws 0 moves the input)")
    A = torch.cat([(m.weight * m.weight_gain).cpu().double() for m in chosen]).numpy()
    if not 1 <= k <= A.shape[1]:
        raise InputError(f"-k {k}: must be 1 .. {A.shape[1]} (w_dim)")
    eigvals, eigvecs = np.linalg.eigh(A.T @ A)
    order = np.argsort(eigvals)[::-1][:k]
    dirs = eigvecs[:, order].T
    dirs *= np.where(dirs[np.arange(k), np.abs(dirs).argmax(1)] < 0, -1.0, 1.0)[:, None]  # fixed sign
    return DirectionSet(torch.from_numpy(dirs.copy()).float(), [f"sefa{i}" for i in range(k)], "sefa", layers,
                        torch.from_numpy(eigvals[order].copy()).float(),
                        {**model_provenance(G), "source": "sefa"})


