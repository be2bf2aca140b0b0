"""Images from seeds, named and drawn as the official ``generate.py`` draws them (``seed0000.png`` ...)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from stylegan2_core.errors import InputError
from stylegan2_core.image import to_uint8
from stylegan2_core.latent import sample_ws

from .images import save_grid, save_pixels
from .outputs import record_outputs

__all__ = ["GRID_NAME", "MAX_GRID_IMAGES", "seed_image_paths", "parse_translate", "parse_translate_path",
           "parse_rotate_path", "check_transformable", "image_transform", "generate_seed_images"]

GRID_NAME = "grid.png"
MAX_GRID_IMAGES = 4096


def seed_image_paths(seeds, outdir, grid: bool = False) -> list[Path]:
    """The files ``generate_seed_images`` writes: ``<outdir>/seed%04d.png`` per seed (+ grid.png)."""
    outdir = Path(outdir)
    return [outdir / f"seed{s:04d}.png" for s in seeds] + ([outdir / GRID_NAME] if grid else [])


def parse_translate(text: str) -> tuple[float, float]:
    """``"0.1,-0.05"`` -> (0.1, -0.05): an image translation x,y as ``gen_images.py --translate`` takes it."""
    parts = str(text).split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 2 or not all(math.isfinite(v) for v in values):
        raise InputError(f"bad --translate {text!r}: expected X,Y, e.g. 0.1,-0.05")
    return values


def parse_translate_path(text: str | None) -> list[tuple[float, float]] | None:
    """``"0,0:0.2,0"`` -> [(0, 0), (0.2, 0)]: translation keyframes x,y (image widths), colon-separated
    (None: no path)."""
    if text is None:
        return None
    try:
        return [parse_translate(part) for part in str(text).split(":")]
    except InputError:
        raise InputError(f"bad --translate-path {text!r}: expected X,Y:X,Y..., e.g. 0,0:0.2,0") from None


def parse_rotate_path(text: str | None) -> list[float] | None:
    """``"0:30"`` -> [0.0, 30.0]: rotation keyframes in degrees, colon-separated (None: no path)."""
    if text is None:
        return None
    try:
        values = [float(part) for part in str(text).split(":")]
    except ValueError:
        values = []
    if not values or not all(math.isfinite(v) for v in values):
        raise InputError(f"bad --rotate-path {text!r}: expected DEGREES:DEGREES..., e.g. 0:30")
    return values


def check_transformable(G) -> None:
    """``InputError`` unless ``G`` is a StyleGAN3 network (StyleGAN2 has no input transform to move)."""
    if not hasattr(G.synthesis, "set_transform"):
        where = getattr(getattr(G, "checkpoint", None), "path", "this network")
        raise InputError(f"{where}: translate/rotate need a StyleGAN3 network; this is a StyleGAN2 generator")


@contextlib.contextmanager
def image_transform(G, translate=(0.0, 0.0), rotate: float = 0.0) -> Iterator[None]:
    """Inside the block, StyleGAN3 network ``G`` draws its images translated by ``translate`` (x, y, in image
    widths) and rotated by ``rotate`` degrees, as the official ``gen_images.py``; restored afterwards.

    StyleGAN2 networks have no input transform: ``InputError``.
    """
    check_transformable(G)
    previous = G.synthesis.input.transform.clone()
    G.synthesis.set_transform(translate, rotate)
    try:
        yield
    finally:
        G.synthesis.input.transform.copy_(previous)


@torch.no_grad()
def generate_seed_images(G, seeds, outdir, *, truncation_psi: float = 1.0, c: torch.Tensor | None = None,
                         noise_mode: str = "const", grid: bool = False, batch_size: int = 8,
                         progress: Callable[[int], None] | None = None, force: bool = False,
                         translate: tuple[float, float] | None = None, rotate: float | None = None) -> list[Path]:
    """Write one image per seed (uint8-identical to the official script), and optionally all as one grid.

    ``c``: class label [1, c_dim] for conditional networks; the grid is ceil(sqrt(N)) columns wide and
    limited to ``MAX_GRID_IMAGES`` (images are streamed to disk batch by batch; only a grid keeps them).
    ``translate`` (x, y) and ``rotate`` (degrees) move StyleGAN3 images as ``gen_images.py`` does
    (``image_transform``). ``progress(n)`` is called after every batch of n images. The files are recorded as
    generate's output set (``record_outputs``; with ``force`` they replace the previous run's). Returns the
    files written.
    """
    seeds = list(seeds)
    if grid and len(seeds) > MAX_GRID_IMAGES:
        raise InputError(f"a grid of {len(seeds):,} images is too large (at most {MAX_GRID_IMAGES:,}); drop --grid")
    transform = contextlib.nullcontext()
    if translate is not None or rotate is not None:
        transform = image_transform(G, translate or (0.0, 0.0), rotate or 0.0)
    paths = seed_image_paths(seeds, outdir)
    images = []
    with transform:
        for start in range(0, len(seeds), batch_size):
            ws = sample_ws(G, seeds[start:start + batch_size], truncation_psi=truncation_psi, c=c)
            pixels = to_uint8(G.synthesis(ws, noise_mode=noise_mode))
            for px, path in zip(pixels, paths[start:start + batch_size]):
                save_pixels(path, px)
                if grid:
                    images.append(px)
            if progress is not None:
                progress(len(pixels))
    if grid:
        paths.append(save_grid(Path(outdir) / GRID_NAME, np.stack(images), cols=math.ceil(math.sqrt(len(images)))))
    record_outputs("generate", paths, force)
    return paths
