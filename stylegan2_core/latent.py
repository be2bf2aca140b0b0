"""Seeds, z, w and ws: the latent conventions shared by every command.

A seed's z is ``np.random.RandomState(seed).randn(1, z_dim)``, as in the official
scripts, so the same seed draws the same image here and there. ``sample_ws`` is the one
seeded z -> ws sampler; ``w_statistics`` (the official projector's w_avg and w_std) is
the one w_avg estimate, built on the same sampling path.
"""

import re

import numpy as np
import torch

from .errors import InputError, ShapeError

__all__ = ["parse_seeds", "z_from_seeds", "z_samples", "class_labels", "sample_ws", "w_statistics", "broadcast_ws",
           "check_ws", "W_AVG_SAMPLES", "W_AVG_SEED"]

# The official projector's w statistics: 10 000 z from RandomState(123).
W_AVG_SAMPLES = 10_000
W_AVG_SEED = 123
_MAPPING_CHUNK = 2500


MAX_SEEDS = 100_000  # per command: a typo such as 0-99999999 must not allocate gigabytes before it fails


def parse_seeds(text: str, max_count: int | None = MAX_SEEDS) -> list[int]:
    """``"0-3,7"`` -> ``[0, 1, 2, 3, 7]``; more than ``max_count`` seeds (None: no limit) is refused up front."""
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
        if max_count is not None and len(seeds) + hi - lo + 1 > max_count:
            raise InputError(f"seeds {text!r} name {len(seeds) + hi - lo + 1:,}+ seeds, over the limit of "
                             f"{max_count:,} per command; split the range into several runs")
        seeds.extend(range(lo, hi + 1))
    return seeds


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise InputError(f"seed {seed!r} out of range (seeds are integers 0 .. 2**32-1)")
    return int(seed)


def z_from_seeds(seeds, z_dim: int) -> torch.Tensor:
    """[N, z_dim] float32, one row per seed, identical to the official ``generate.py``."""
    seeds = [_check_seed(s) for s in seeds]
    if not seeds:
        raise InputError("no seeds given")
    return torch.from_numpy(np.concatenate([np.random.RandomState(s).randn(1, z_dim) for s in seeds])).float()


def z_samples(num_samples: int, z_dim: int, seed: int) -> torch.Tensor:
    """``num_samples`` z [N, z_dim] from one ``RandomState(seed)``: the sample sets behind w_avg, PCA and fits."""
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
        raise InputError(f"number of samples must be a positive integer, got {num_samples!r}")
    return torch.from_numpy(np.random.RandomState(_check_seed(seed)).randn(num_samples, z_dim)).float()


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


def _labels_for(G, c: torch.Tensor | None, n: int) -> torch.Tensor | None:
    """``c`` as [n, c_dim] on G's device (None for unconditional networks); one row is repeated."""
    if G.c_dim == 0:
        if c is not None and c.numel() != 0:
            raise InputError("this network is unconditional: pass no class label")
        return None
    if c is None:
        raise InputError(f"this network is conditional ({G.c_dim} classes): pass c, e.g. class_labels(idx, G.c_dim)")
    c = torch.as_tensor(c, dtype=torch.float32)
    if c.ndim == 1:
        c = c[None]
    if c.ndim != 2 or c.shape[1] != G.c_dim or c.shape[0] not in (1, n):
        raise ShapeError(f"class labels must be [1 or {n}, {G.c_dim}], got {list(c.shape)}")
    return c.expand(n, -1).to(G.mapping.w_avg.device)


@torch.no_grad()
def _map(G, z: torch.Tensor, c: torch.Tensor | None, truncation_psi: float) -> torch.Tensor:
    """w [N, w_dim] for z [N, z_dim] on G's device, mapped in chunks: the one z -> w path."""
    device = G.mapping.w_avg.device
    c = _labels_for(G, c, len(z))
    w = []
    for start in range(0, len(z), _MAPPING_CHUNK):
        cc = c[start:start + _MAPPING_CHUNK] if c is not None else None
        w.append(G.mapping(z[start:start + _MAPPING_CHUNK].to(device), cc, truncation_psi=truncation_psi)[:, 0])
    return torch.cat(w)


def sample_ws(G, seeds=None, *, num: int | None = None, seed: int | None = None, truncation_psi: float = 1.0,
              c: torch.Tensor | None = None) -> torch.Tensor:
    """Seeded ws ``[N, num_ws, w_dim]`` on G's device: the one z -> ws sampler.

    Args:
        G: the generator.
        seeds: one z per seed, ``RandomState(seed).randn(1, z_dim)`` as the official scripts draw it; or
        num, seed: ``num`` z from one ``RandomState(seed)`` stream (``z_samples``: fits, PCA, statistics).
        truncation_psi: truncation toward ``G``'s ``w_avg`` (1 = none).
        c: class labels ``[1 or N, c_dim]`` for conditional networks (see ``class_labels``).
    """
    by_stream = num is not None or seed is not None
    if (seeds is not None) == by_stream or (by_stream and (num is None or seed is None)):
        raise InputError("sample_ws: pass either seeds, or num and seed")
    z = z_from_seeds(seeds, G.z_dim) if seeds is not None else z_samples(num, G.z_dim, seed)
    return _map(G, z, c, truncation_psi).unsqueeze(1).repeat([1, G.num_ws, 1])


def w_statistics(G, num_samples: int = W_AVG_SAMPLES, seed: int = W_AVG_SEED, c: torch.Tensor | None = None):
    """Mean w ``[1, 1, w_dim]`` (on the CPU) and scalar RMS distance, as the official projector computes them.

    The one w_avg estimate: ``estimate_w_avg`` (checkpoints without a stored w_avg) uses it too.
    """
    w = _map(G, z_samples(num_samples, G.z_dim, seed), c, 1.0).cpu().numpy().astype(np.float32)[:, None]
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
