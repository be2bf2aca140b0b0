"""Style mixing: take some layers' styles from one latent and the rest from another.

Layer groups follow the StyleGAN paper's convention of two styles per resolution:
ws index ``i`` belongs to resolution ``4 * 2 ** (i // 2)``. ``coarse`` is every index at
4²–8², ``middle`` at 16²–32², ``fine`` at 64² and above, so an 18-ws (1024 px) network gets
the paper's coarse 0-3, middle 4-7, fine 8-17, and smaller networks get the same split by
resolution (a 32 px network has no fine layers). A StyleGAN3 network's rows belong to twice
their layer's cutoff frequency (``ws_resolutions``): a 1024 px one gets coarse 0-2, middle 3-5,
fine 6-15.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import torch

from stylegan2_core.errors import InputError

from ..images import image_grid

__all__ = ["ws_resolutions", "layer_ranges", "parse_layers", "style_mix", "mixing_grid", "mixing_outputs", "write_mixing"]

_RANGE_RE = re.compile(r"(\d+)(?:-(\d+))?")


def ws_resolutions(G) -> list[float]:
    """The resolution each ws row of ``G`` controls: as its StyleGAN3 synthesis network reports it, else the
    StyleGAN2 convention of two rows per resolution from 4 px."""
    if hasattr(G.synthesis, "ws_resolutions"):
        return G.synthesis.ws_resolutions()
    return [4 * 2 ** (i // 2) for i in range(G.num_ws)]


def layer_ranges(num_ws: int, resolutions: list[float] | None = None) -> dict[str, list[int]]:
    """``{'coarse', 'middle', 'fine'}`` -> ws indices, by the resolution each index controls
    (``resolutions``, from ``ws_resolutions``; default the StyleGAN2 convention)."""
    if resolutions is None:
        resolutions = [4 * 2 ** (i // 2) for i in range(num_ws)]
    groups = {"coarse": [], "middle": [], "fine": []}
    for i, res in enumerate(resolutions):
        groups["coarse" if res <= 8 else "middle" if res <= 32 else "fine"].append(i)
    return groups


def parse_layers(text: str, num_ws: int, resolutions: list[float] | None = None) -> list[int]:
    """``"0-6"``, ``"coarse"``, ``"0,2,4-5"``, ``"coarse,fine"`` or ``"all"`` -> sorted ws indices.

    Groups follow ``resolutions`` (see ``layer_ranges``). Ranges are inclusive; indices outside
    ``0 .. num_ws-1`` raise ``InputError``.
    """
    groups = {**layer_ranges(num_ws, resolutions), "all": list(range(num_ws))}
    layers: set[int] = set()
    for part in str(text).split(","):
        part = part.strip().lower()
        if part in groups:
            if not groups[part]:
                raise InputError(f"layers {text!r}: this network ({num_ws} ws) has no {part} layers")
            layers.update(groups[part])
            continue
        m = _RANGE_RE.fullmatch(part)
        if not m:
            raise InputError(f"bad layer list {text!r}: expected indices like '0-3,5' or coarse/middle/fine/all")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise InputError(f"bad layer range {part!r}: end before start")
        if hi >= num_ws:
            raise InputError(f"layer {hi} out of range: this network has ws layers 0 .. {num_ws - 1}")
        layers.update(range(lo, hi + 1))
    return sorted(layers)


def style_mix(row_ws: torch.Tensor, col_ws: torch.Tensor, layers: list[int]) -> torch.Tensor:
    """``row_ws`` with the styles at ``layers`` replaced by ``col_ws``'s (shapes [..., num_ws, w_dim], broadcast)."""
    row_ws, col_ws = torch.broadcast_tensors(row_ws, col_ws)
    out = row_ws.clone()
    idx = list(layers)
    out[..., idx, :] = col_ws[..., idx, :]
    return out


@torch.no_grad()
def _render(G, ws: torch.Tensor, noise_mode: str, batch_size: int) -> torch.Tensor:
    return torch.cat([G.synthesis(chunk, noise_mode=noise_mode).float() for chunk in ws.split(batch_size)])


@torch.no_grad()
def mixing_grid(G, row_ws: torch.Tensor, col_ws: torch.Tensor, layers: list[int], noise_mode: str = "const",
                batch_size: int = 16) -> tuple[torch.Tensor, dict[tuple[int, int], torch.Tensor]]:
    """Render every row x column mix, laid out as the official ``style_mixing.py`` does.

    Args:
        row_ws: [R, num_ws, w_dim] latents that keep their styles outside ``layers``.
        col_ws: [C, num_ws, w_dim] latents whose styles replace the row's at ``layers``.
    Returns:
        The grid [1, 3, (R+1)·H, (C+1)·W]: the first row shows the column sources, the first
        column the row sources, the top-left cell is black (-1); and ``cells[(i, j)]`` =
        [1, 3, H, W] image of row ``i`` mixed with column ``j``.
    """
    R, C = row_ws.shape[0], col_ws.shape[0]
    mixed = style_mix(row_ws[:, None], col_ws[None], layers).reshape(R * C, *row_ws.shape[1:])
    images = _render(G, torch.cat([row_ws, col_ws, mixed]), noise_mode, batch_size)
    rows, cols, cells_img = images[:R], images[R:R + C], images[R + C:]
    corner = torch.full_like(images[:1], -1.0)
    layout = [corner, cols] + [t for i in range(R) for t in (rows[i:i + 1], cells_img[i * C:(i + 1) * C])]
    grid = image_grid(torch.cat(layout).permute(0, 2, 3, 1), cols=C + 1).permute(2, 0, 1)[None]
    cells = {(i, j): cells_img[i * C + j][None] for i in range(R) for j in range(C)}
    return grid, cells


def mixing_outputs(row_labels: list[str], col_labels: list[str], outdir, video=None) -> list[Path]:
    """The files ``write_mixing`` writes: grid.png, one ``{row}-{col}.png`` per cell (+ the video)."""
    outdir = Path(outdir)
    cells = [outdir / f"{r}-{c}.png" for r in row_labels for c in col_labels]
    return [outdir / "grid.png", *cells, *([Path(video)] if video else [])]


@torch.no_grad()
def write_mixing(G, row_ws: torch.Tensor, col_ws: torch.Tensor, layers: list[int], outdir, row_labels: list[str],
                 col_labels: list[str], *, noise_mode: str = "const", batch_size: int = 16, video=None,
                 fps: float = 2.0, progress: Callable[[int, int], None] | None = None, force: bool = False,
                 ) -> list[Path]:
    """Render ``mixing_grid`` and write grid.png and the cells; optionally a crossover ``video``.

    Video frame k (k = 0 .. num_ws) takes ws layers 0 .. k-1 from the column; ``progress(k, total)``
    follows its frames. ``noise_mode='random'`` is seeded, so reruns agree. The files are recorded as
    the mix's output set (``record_outputs``; with ``force`` they replace the previous mix's files).
    Returns the files written.
    """
    from stylegan2_core.image import to_uint8

    from ..images import save_pixels
    from ..outputs import record_outputs
    from ..video import VideoWriter

    paths = mixing_outputs(row_labels, col_labels, outdir, video)
    torch.manual_seed(0)
    grid, cells = mixing_grid(G, row_ws, col_ws, layers, noise_mode, batch_size)
    save_pixels(paths[0], to_uint8(grid)[0])
    for path, key in zip(paths[1:], sorted(cells)):
        save_pixels(path, to_uint8(cells[key])[0])
    if video is not None:
        with VideoWriter(video, fps=fps) as writer:
            for k in range(G.num_ws + 1):
                torch.manual_seed(0)
                frame, _ = mixing_grid(G, row_ws, col_ws, list(range(k)), noise_mode, batch_size)
                writer.append(to_uint8(frame))
                if progress is not None:
                    progress(k + 1, G.num_ws + 1)
    record_outputs("mix", paths, force)
    return paths

