"""Latent walks: keyframes -> per-frame ws, produced lazily in batches, and ``walk_video``, which
renders a walk through seeds or latent files with ``projector.video``'s writer.

Frame layout: ``frames`` frames per transition. An open walk over K keyframes has
``(K-1)·frames + 1`` frames, the first and last equal to the first and last keyframe;
a loop has ``K·frames`` frames and returns to the first keyframe seamlessly (the frame
after the last would be frame 0). Every frame that lands on a keyframe equals it exactly.

Keyframes may carry extra leading "cell" axes (``[K, *cells, ...]``): each cell is an
independent walk, rendered side by side as a grid video.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from stylegan2_core.errors import InputError
from stylegan2_core.latent import z_from_seeds

from ..latent_file import load_latent
from ..video import VIDEO_SUFFIXES, render_video
from .direction_file import layer_mask

KINDS = ("linear", "slerp", "cubic")
EASINGS = ("linear", "smoothstep", "ease-in-out")


def ease(t: np.ndarray, easing: str = "linear") -> np.ndarray:
    """Map transition fractions in [0, 1] to [0, 1]: ``linear`` or ``smoothstep`` (alias ``ease-in-out``)."""
    t = np.asarray(t, dtype=np.float64)
    if easing == "linear":
        return t
    if easing in ("smoothstep", "ease-in-out"):
        return t * t * (3 - 2 * t)
    raise InputError(f"unknown easing {easing!r}: use one of {', '.join(EASINGS)}")


def frame_count(num_keys: int, frames: int, loop: bool = False) -> int:
    """Number of frames a walk over ``num_keys`` keyframes produces (see the module docstring)."""
    return num_keys * frames if loop else (num_keys - 1) * frames + 1


def _check_walk(num_keys: int, frames: int) -> None:
    if num_keys < 2:
        raise InputError(f"a walk needs at least 2 keyframes, got {num_keys}")
    if frames < 1:
        raise InputError(f"frames per transition must be at least 1, got {frames}")


def frame_positions(num_keys: int, frames: int, loop: bool = False,
                    easing: str = "linear") -> tuple[np.ndarray, np.ndarray]:
    """Per frame: the transition's start keyframe index and the eased fraction toward the next one."""
    _check_walk(num_keys, frames)
    i = np.arange(frame_count(num_keys, frames, loop))
    seg = np.minimum(i // frames, num_keys - 1 if loop else num_keys - 2)
    return seg, ease((i - seg * frames) / frames, easing)


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation along the last axis (magnitudes interpolated linearly); ``t`` broadcasts."""
    a, b = a.double(), b.double()
    t = t.double()[..., None]
    na, nb = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    ua, ub = a / na.clamp_min(1e-12), b / nb.clamp_min(1e-12)
    omega = torch.acos((ua * ub).sum(-1, keepdim=True).clamp(-1, 1))
    so = torch.sin(omega)
    near = so.abs() < 1e-6  # (anti)parallel: directions are already equal, lerp them
    safe = torch.where(near, torch.ones_like(so), so)
    u = torch.where(near, (1 - t) * ua + t * ub,
                    (torch.sin((1 - t) * omega) * ua + torch.sin(t * omega) * ub) / safe)
    return u * ((1 - t) * na + t * nb)


def interpolate(keys: torch.Tensor, frames: int, kind: str = "linear", loop: bool = False, easing: str = "linear",
                batch_size: int = 16) -> Iterator[torch.Tensor]:
    """Keyframes [K, ...] -> batches of frames [B, ...] (``kind`` linear, slerp over the last axis, or cubic).

    ``cubic`` is a C² spline through all keyframes (scipy ``CubicSpline``), with periodic
    boundary conditions when ``loop`` so the loop has no kink at the seam.
    """
    if kind not in KINDS:
        raise InputError(f"unknown interpolation {kind!r}: use one of {', '.join(KINDS)}")
    device, dtype = keys.device, keys.dtype
    keys = keys.detach().cpu()  # float64 math on the CPU: cheap, and exact on every backend
    K = keys.shape[0]
    seg, frac = frame_positions(K, frames, loop, easing)
    keys64 = keys.double()
    spline = None
    if kind == "cubic":
        from scipy.interpolate import CubicSpline

        flat = keys64.reshape(K, -1).numpy()
        if loop:
            spline = CubicSpline(np.arange(K + 1), np.concatenate([flat, flat[:1]]), bc_type="periodic")
        else:
            spline = CubicSpline(np.arange(K), flat)
    for start in range(0, len(seg), batch_size):
        s = torch.from_numpy(seg[start:start + batch_size])
        f = torch.from_numpy(frac[start:start + batch_size])
        nxt = (s + 1) % K
        if kind == "cubic":
            out = torch.from_numpy(spline((s + f).numpy())).reshape(len(s), *keys.shape[1:])
        else:
            a, b = keys64[s], keys64[nxt]
            t = f.reshape(-1, *[1] * (keys.ndim - 1))
            out = slerp(a, b, t[..., 0]) if kind == "slerp" else a + t * (b - a)
        out = out.to(dtype)
        out[f == 0] = keys[s[f == 0]]  # frames on a keyframe are exactly that keyframe
        out[f == 1] = keys[nxt[f == 1]]
        yield out.to(device)


@torch.no_grad()
def _map(G, z: torch.Tensor, truncation_psi: float, c: torch.Tensor | None) -> torch.Tensor:
    """z [..., z_dim] -> ws [..., num_ws, w_dim]; ``c`` is one label [1, c_dim] shared by all."""
    device = G.mapping.w_avg.device
    flat = z.reshape(-1, z.shape[-1]).float().to(device)
    cc = c.to(device).expand(flat.shape[0], -1) if c is not None and c.shape[-1] else None
    ws = G.mapping(flat, cc, truncation_psi=truncation_psi)
    return ws.reshape(*z.shape[:-1], G.num_ws, G.w_dim)


def walk(G, frames: int, *, z: torch.Tensor | None = None, ws: torch.Tensor | None = None, kind: str = "linear",
         loop: bool = False, easing: str = "linear", truncation_psi: float = 1.0, c: torch.Tensor | None = None,
         batch_size: int = 16) -> Iterator[torch.Tensor]:
    """Keyframes -> ws batches [B, *cells, num_ws, w_dim] for rendering.

    Pass exactly one of ``z`` [K, *cells, z_dim] (seeds) or ``ws`` [K, *cells, num_ws, w_dim]
    (latent files). ``linear`` and ``cubic`` interpolate in W (z keyframes are mapped first, with
    ``truncation_psi`` and class label ``c`` [1, c_dim]); ``slerp`` interpolates in Z and maps each
    frame, so it needs ``z``.
    """
    if (z is None) == (ws is None):
        raise InputError("walk: pass keyframes as exactly one of z (seeds) or ws (latents)")
    if kind == "slerp":
        if z is None:
            raise InputError("slerp interpolates in Z: use seeds as keyframes, or --kind linear/cubic for latent files")
        for zb in interpolate(z, frames, "slerp", loop, easing, batch_size):
            yield _map(G, zb, truncation_psi, c)
        return
    keys = ws if ws is not None else _map(G, z, truncation_psi, c)
    yield from interpolate(keys, frames, kind, loop, easing, batch_size)


def grid_seeds(seeds: Sequence[int], cells: int) -> list[list[int]]:
    """Independent keyframe seeds for each grid cell: cell ``i`` uses every seed + ``i``·span.

    ``span`` is the width of the seed range, so cell 0 walks the given seeds and the other
    cells walk disjoint, reproducible seed sets.
    """
    span = max(seeds) - min(seeds) + 1
    return [[s + i * span for s in seeds] for i in range(cells)]


def direction_sweep(ws: torch.Tensor, direction: torch.Tensor, strengths: Sequence[float] | torch.Tensor,
                    layers: Sequence[int] | None = None, batch_size: int = 16) -> Iterator[torch.Tensor]:
    """Frames that move ``ws`` [*cells, num_ws, w_dim] along ``direction`` [w_dim], one frame per strength.

    Yields batches [B, *cells, num_ws, w_dim]; only ``layers`` (default all) are edited.
    """
    strengths = torch.as_tensor(strengths, dtype=ws.dtype).reshape(-1)
    delta = layer_mask(ws.shape[-2], layers, ws.device).to(ws.dtype) * direction.reshape(1, -1).to(ws)
    for chunk in strengths.to(ws.device).split(batch_size):
        yield ws[None] + chunk.reshape(-1, *[1] * ws.ndim) * delta


def transform_keyframes(num_keys: int, translate_path=None, rotate_path=None) -> np.ndarray:
    """StyleGAN3 image transforms at the walk's keyframes, [K, 3] rows (x, y, degrees).

    ``translate_path``: (x, y) keyframes in image widths; ``rotate_path``: degrees. The latent
    keyframes (``num_keys``) and each path line up one to one; a path of one keyframe holds still,
    so one seed with a two-point path is a camera move over a fixed image.
    """
    counts = {"latent keyframes": num_keys, "--translate-path": len(translate_path or [None]),
              "--rotate-path": len(rotate_path or [None])}
    count = max(counts.values())
    wrong = [f"{name} {n}" for name, n in counts.items() if n not in (1, count)]
    if wrong:
        raise InputError(f"keyframe counts differ ({', '.join(wrong)}; longest {count}): each path needs 1 or "
                         f"{count}")
    translate = np.broadcast_to(np.asarray(translate_path or [(0.0, 0.0)], np.float64), (count, 2))
    rotate = np.broadcast_to(np.asarray(rotate_path or [0.0], np.float64)[:, None], (count, 1))
    return np.concatenate([translate, rotate], axis=1)


def _moves(G, keys: dict, translate_path, rotate_path, frames: int, kind: str, loop: bool, easing: str):
    """Per-frame transforms [frames, 3] for a transform walk, and the latent keyframes repeated to the
    transform keyframes' count when a single latent holds still; (None, keys) without paths."""
    from ..generate import check_transformable

    if translate_path is None and rotate_path is None:
        return None, keys
    check_transformable(G)
    name, latent = next(iter(keys.items()))
    moves = torch.from_numpy(transform_keyframes(latent.shape[0], translate_path, rotate_path))
    if latent.shape[0] == 1:
        keys = {name: latent.expand(moves.shape[0], *latent.shape[1:])}
    per_frame = torch.cat(list(interpolate(moves, frames, "cubic" if kind == "cubic" else "linear", loop, easing)))
    return per_frame.numpy(), keys


@dataclass(frozen=True)
class WalkVideo:
    """What ``walk_video`` wrote: ``frames`` frames of ``path``, through keyframes ``labels``."""

    path: Path
    frames: int
    labels: list[str]


def walk_video(G, path, *, seeds: Sequence[int] | None = None, latents: Sequence | None = None, frames: int = 60,
               kind: str = "linear", loop: bool = False, easing: str = "linear", fps: float = 30,
               grid: tuple[int, int] = (1, 1), truncation_psi: float = 1.0, c: torch.Tensor | None = None,
               noise_mode: str = "const", batch_size: int = 8, translate_path=None, rotate_path=None,
               progress: Callable[[int, int], None] | None = None) -> WalkVideo:
    """Render a latent walk through keyframes (exactly one of ``seeds`` or ``latents`` files) to ``path``.

    ``frames`` per transition, interpolated with ``kind`` (linear / cubic in W, slerp in Z for
    seeds) and ``easing``. With ``grid`` = (columns, rows), cell i walks the seeds shifted by i
    times the seed span (latent files: the keyframes rotated by i). ``noise_mode='random'`` is
    seeded, so reruns agree; ``progress(done, total)`` follows the frames. StyleGAN3: ``translate_path``
    [(x, y), ...] and ``rotate_path`` [degrees, ...] move the image along with the walk (``transform_keyframes``).
    """
    if (seeds is None) == (not latents):
        raise InputError("pass keyframes as either --seeds or --latents (not both)")
    if Path(path).suffix.lower() not in VIDEO_SUFFIXES:
        raise InputError(f"{path}: unsupported video type; use one of {', '.join(VIDEO_SUFFIXES)}")
    cells = grid[0] * grid[1]
    if seeds is not None:
        z = torch.stack([z_from_seeds(s, G.z_dim) for s in grid_seeds(list(seeds), cells)], dim=1)  # [K, cells, z]
        keys = {"z": z if cells > 1 else z[:, 0]}
        labels = [str(s) for s in seeds]
    else:
        ws = torch.cat([load_latent(f, G).ws for f in latents])
        keys = {"ws": torch.stack([ws.roll(-i, dims=0) for i in range(cells)], dim=1) if cells > 1 else ws}
        labels = [Path(f).stem for f in latents]
    moves, keys = _moves(G, keys, translate_path, rotate_path, frames, kind, loop, easing)
    total = frame_count(next(iter(keys.values())).shape[0], frames, loop)
    ws_iter = walk(G, frames, **keys, kind=kind, loop=loop, easing=easing, truncation_psi=truncation_psi, c=c,
                   batch_size=batch_size)
    torch.manual_seed(0)
    done = [0]

    def advance(n: int) -> None:
        done[0] += n
        if progress is not None:
            progress(done[0], total)

    written = render_video(G, ws_iter, path, batch_size=batch_size, noise_mode=noise_mode, fps=fps, grid=grid,
                           progress=advance, moves=moves)
    return WalkVideo(Path(path), written, labels)
