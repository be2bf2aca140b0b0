"""Seeds, z, w and ws: the latent conventions shared by every command.

A seed's z is ``np.random.RandomState(seed).randn(1, z_dim)``, as in the official
scripts, so the same seed draws the same image here and there.
"""

import re

import numpy as np
import torch

from .errors import InputError, ShapeError

__all__ = ["parse_seeds", "z_from_seeds", "z_samples", "class_labels", "sample_ws", "w_statistics", "broadcast_ws",
           "check_ws"]


def parse_seeds(text: str) -> list[int]:
    """``"0-3,7"`` -> ``[0, 1, 2, 3, 7]``."""
    seeds = []
    for part in str(text).split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise InputError(f"bad seed list {text!r}: expected items like '7' or '0-3', separated by commas")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise InputError(f"bad seed range {part!r}: end before start")
        if hi >= 2**32:
            raise InputError(f"seed {hi} out of range (seeds are 0 .. 2**32-1)")
        seeds.extend(range(lo, hi + 1))
    return seeds


def z_from_seeds(seeds, z_dim: int) -> torch.Tensor:
    """[N, z_dim] float32, one row per seed, identical to the official ``generate.py``."""
    return torch.from_numpy(np.concatenate([np.random.RandomState(s).randn(1, z_dim) for s in seeds])).float()


def z_samples(num_samples: int, z_dim: int, seed: int) -> torch.Tensor:
    """``num_samples`` z [N, z_dim] from one ``RandomState(seed)``: the sample sets behind w_avg, PCA and fits."""
    return torch.from_numpy(np.random.RandomState(seed).randn(num_samples, z_dim)).float()


def class_labels(class_idx: int | None, c_dim: int, n: int = 1) -> torch.Tensor:
    """One-hot labels [n, c_dim]; validates the index against the network."""
    if c_dim == 0:
        if class_idx is not None:
            raise InputError("this network is unconditional: drop --class")
        return torch.zeros([n, 0])
    if class_idx is None:
        raise InputError(f"this network is conditional ({c_dim} classes): pass a class index with --class")
    if not 0 <= class_idx < c_dim:
        raise InputError(f"class index {class_idx} out of range: this network has classes 0 .. {c_dim - 1}")
    c = torch.zeros([n, c_dim])
    c[:, class_idx] = 1
    return c


@torch.no_grad()
def sample_ws(G, seeds=None, *, num: int | None = None, seed: int | None = None, truncation_psi: float = 1.0,
              c: torch.Tensor | None = None) -> torch.Tensor:
    """Seeded z -> ws [N, num_ws, w_dim] on ``G``'s device: the one sampler behind every seeded latent.

    Pass ``seeds`` (one official ``RandomState(seed)`` z per seed, as ``generate.py``) or ``num``
    and ``seed`` (``num`` z from one ``RandomState(seed)`` stream, as w_avg, PCA and fits use).
    ``c``: class labels [1, c_dim] (shared by all) or [N, c_dim] for conditional networks.
    """
    if (seeds is None) == (num is None):
        raise InputError("sample_ws: pass either seeds or num (with seed)")
    if seeds is not None:
        z = z_from_seeds(list(seeds), G.z_dim)
    else:
        if seed is None:
            raise InputError("sample_ws: num needs an explicit seed")
        z = z_samples(num, G.z_dim, seed)
    device = G.mapping.w_avg.device
    if c is not None and c.shape[-1]:
        c = c.reshape(-1, c.shape[-1]).to(device)
        c = c.expand(len(z), -1) if c.shape[0] == 1 else c
        if c.shape[0] != len(z):
            raise ShapeError(f"sample_ws: {c.shape[0]} class labels for {len(z)} latents")
    else:
        c = None
    return G.mapping(z.to(device), c, truncation_psi=truncation_psi)


@torch.no_grad()
def w_statistics(G, num_samples: int = 10_000, seed: int = 123, c: torch.Tensor | None = None):
    """Mean w ``[1, 1, w_dim]`` and scalar RMS distance, as the official projector computes them."""
    device = G.mapping.w_avg.device
    z = z_samples(num_samples, G.z_dim, seed)
    cs = None if c is None or c.shape[-1] == 0 else c.reshape(1, -1).to(device)
    ws = []
    for chunk in z.split(2500):
        cc = cs.repeat(len(chunk), 1) if cs is not None else None
        ws.append(G.mapping(chunk.to(device), cc)[:, :1].cpu())
    w = torch.cat(ws).numpy().astype(np.float32)
    w_avg = np.mean(w, axis=0, keepdims=True)
    w_std = float((np.sum((w - w_avg) ** 2) / num_samples) ** 0.5)
    return torch.from_numpy(w_avg), w_std


def broadcast_ws(w: torch.Tensor, num_ws: int) -> torch.Tensor:
    """[N, w_dim] or [N, 1, w_dim] -> [N, num_ws, w_dim]; ws already of that shape pass through."""
    if w.ndim == 2:
        w = w[:, None]
    if w.ndim != 3 or w.shape[1] not in (1, num_ws):
        raise ShapeError(f"expected w [N, w_dim] or ws [N, {num_ws}, w_dim], got {list(w.shape)}")
    return w.expand(-1, num_ws, -1) if w.shape[1] == 1 else w


def check_ws(ws: torch.Tensor, G, where: str = "latent") -> torch.Tensor:
    """Validate ``ws`` against ``G``: shape and finiteness."""
    ws = broadcast_ws(torch.as_tensor(ws, dtype=torch.float32), G.num_ws)
    if ws.shape[-1] != G.w_dim:
        raise ShapeError(f"{where}: w_dim {ws.shape[-1]} does not match the network's {G.w_dim}")
    if not torch.isfinite(ws).all():
        raise InputError(f"{where}: contains NaN or inf")
    return ws
