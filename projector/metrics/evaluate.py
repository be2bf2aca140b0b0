"""Measure a generator the way ``s2edit metrics`` does: FD-EffNetLite0 against real images, PPL in W.

::

    results = evaluate_generator(G, ["fd", "ppl"], data="world", num=2000)
    write_metrics_json("metrics.json", results)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch

from stylegan2_core.errors import InputError
from stylegan2_core.fileio import atomic_write

from .generative import MetricResult, fd_effnet_lite0, ppl_w, real_feature_stats

__all__ = ["METRICS", "parse_metrics", "evaluate_generator", "write_metrics_json"]

METRICS = ("fd", "ppl")


def parse_metrics(text: str) -> list[str]:
    """``"fd,ppl"`` -> ``["fd", "ppl"]``; unknown or no names raise ``InputError``."""
    wanted = [m.strip() for m in str(text).split(",") if m.strip()]
    unknown = sorted(set(wanted) - set(METRICS))
    if unknown or not wanted:
        raise InputError(f"unknown metrics {unknown or wanted}: choose from {', '.join(METRICS)}")
    return wanted


def evaluate_generator(G, metrics, *, data: str = "world", num: int = 2000, real_start: int = 5_000_000,
                       ppl_samples: int = 2000, ppl_distance=None, sampling: str = "end", crop: bool = False,
                       seed: int = 0, batch_size: int = 32, device: torch.device | str = "cpu",
                       stage: Callable[[str], None] | None = None) -> list[MetricResult]:
    """FD-EffNetLite0 (``"fd"``) and/or PPL-W (``"ppl"``) of an unconditional generator.

    FD compares ``num`` generated images with ``num`` real ones from ``data`` (an image folder, a
    zip, or 'world', whose images start at seed ``real_start``; for files, the first index).
    PPL uses ``ppl_samples`` pairs, ``sampling`` 'end' (the paper's) or 'full', the perceptual
    ``ppl_distance`` (default EffNet-Lite0). ``stage(text)`` is called as each stage starts.
    """
    from ..training.data import open_source

    if G.c_dim:
        raise InputError("metrics support unconditional generators only")
    if sampling not in ("end", "full"):
        raise InputError(f"--sampling must be 'end' or 'full', got {sampling!r}")
    stage = stage or (lambda text: None)
    results = []
    if "fd" in metrics:
        if data == "world":
            source, start = open_source("world", G.img_resolution, world_start_seed=real_start), 0
        else:
            source, start = open_source(data, G.img_resolution), real_start
        stage(f"FD-EffNetLite0: features of {num} real images")
        real = real_feature_stats(source, num, start=start, batch_size=batch_size, device=device)
        stage(f"FD-EffNetLite0: features of {num} generated images")
        results.append(fd_effnet_lite0(G, real, num, seed=seed, batch_size=batch_size, device=device))
    if "ppl" in metrics:
        stage(f"PPL-W: {ppl_samples} samples")
        results.append(ppl_w(G, ppl_samples, sampling=sampling, crop=crop, distance=ppl_distance,
                             batch_size=max(batch_size // 2, 1), seed=seed, device=device))
    return results


def write_metrics_json(path, results: list[MetricResult]) -> Path:
    """``{name: {"value": v, **details}}`` as JSON, written atomically."""
    path = Path(path)
    text = json.dumps({r.name: {"value": r.value, **r.details} for r in results}, indent=2)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
    return path
