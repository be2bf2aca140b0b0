"""Render an attribute edit: latents moved along one direction at several strengths, as images, a strip or a video.

This is ``s2edit edit`` as functions::

    plan = plan_edit(G, "out/me/latent.safetensors", "smile.npz", parse_strengths("-3:3:7"))
    render_edit(G, plan, outdir="edits", video="edits/smile.mp4")
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from stylegan2_core.errors import InputError
from stylegan2_core.image import to_uint8

from ..images import image_grid, save_pixels
from ..outputs import record_outputs
from .direction_file import DirectionSet, apply_direction, load_directions
from .interpolate import direction_sweep
from .mixing import parse_layers

__all__ = ["EditPlan", "parse_strengths", "plan_edit", "render_edit"]

MAX_STRENGTHS = 1000
_UNSAFE_RE = re.compile(r"[^A-Za-z0-9_.+-]+")


def parse_strengths(text: str) -> list[float]:
    """``"-3:3:7"`` (start:stop:count, inclusive) or ``"-2,0,2"`` -> strengths (finite, at most MAX_STRENGTHS)."""
    try:
        if ":" in text:
            start, stop, count = text.split(":")
            if not 1 <= int(count) <= MAX_STRENGTHS:
                raise ValueError
            values = np.linspace(float(start), float(stop), int(count)).tolist()
        else:
            values = [float(x) for x in text.split(",")]
    except ValueError:
        raise InputError(f"bad --strength {text!r}: expected START:STOP:COUNT (e.g. -3:3:7, COUNT 1 .. "
                         f"{MAX_STRENGTHS}) or a list (-2,0,2)") from None
    if not all(math.isfinite(v) for v in values):
        raise InputError(f"bad --strength {text!r}: strengths must be finite numbers")
    return values


@dataclass
class EditPlan:
    """What an edit renders: ``ws`` [N, num_ws, w_dim] (one ``label`` each) moved by ``strengths`` x ``direction``.

    ``layers``: ws indices edited (None = all); ``noise``: the latent file's saved noise maps
    (used for every image, so strength 0 redraws its proj.png), or None; ``warnings``: things a
    user should know (e.g. the directions were made for another model).
    """

    ws: torch.Tensor
    labels: list[str]
    direction: torch.Tensor
    strengths: list[float]
    layers: list[int] | None
    directions: DirectionSet
    index: int
    noise: list[torch.Tensor] | None = None
    warnings: tuple[str, ...] = ()

    @property
    def direction_name(self) -> str:
        """The direction's name as a file-name part (letters, digits, ``_.+-``; never a path)."""
        return _UNSAFE_RE.sub("_", self.directions.names[self.index]).strip("_.") or f"d{self.index}"

    @property
    def image_names(self) -> list[str]:
        """One ``{label}_{direction}_{strength:+.2f}.png`` per latent and strength, latent-major."""
        return [f"{label}_{self.direction_name}_{s:+.2f}.png" for label in self.labels for s in self.strengths]

    @property
    def strip_name(self) -> str:
        """``{label}_{direction}_strip.png`` (``{first}-{last}_...`` for several latents)."""
        latents = self.labels[0] if len(self.labels) == 1 else f"{self.labels[0]}-{self.labels[-1]}"
        return f"{latents}_{self.direction_name}_strip.png"

    def outputs(self, outdir=None, video=None) -> list[Path]:
        """The files ``render_edit`` writes for these arguments (for the no-overwrite check)."""
        files = [Path(outdir) / self.strip_name, *(Path(outdir) / n for n in self.image_names)] if outdir else []
        return files + ([Path(video)] if video else [])


def plan_edit(G, latent: str, direction_file, strengths: list[float], index: int = 0, layers: str | None = None,
              truncation_psi: float = 1.0, class_idx: int | None = None) -> EditPlan:
    """Load and check everything an edit needs; raises ``InputError`` on any mismatch with ``G``.

    ``latent``: a latent file or seed(s) (mapped with ``truncation_psi``); ``layers``: a layer list
    (``parse_layers``), default the direction file's own layers, else all.
    """
    from ..latent_file import load_latent, model_mismatch, resolve_latents

    ds = load_directions(direction_file)
    if index >= len(ds):
        raise InputError(f"--index {index} out of range: {direction_file} holds {len(ds)} directions")
    if ds.directions.shape[1] != G.w_dim:
        raise InputError(f"{direction_file}: directions have w_dim {ds.directions.shape[1]}, the network {G.w_dim}")
    mismatch = model_mismatch(ds.meta, G)
    warnings = [f"{direction_file}: {mismatch}"] if mismatch else []
    chosen = parse_layers(layers, G.num_ws) if layers else ds.layers
    if chosen is not None and max(chosen) >= G.num_ws:
        raise InputError(f"{direction_file}: made for ws layers {chosen}, this network has 0 .. {G.num_ws - 1}")
    ws, labels = resolve_latents([latent], G, truncation_psi=truncation_psi, class_idx=class_idx)
    # A projection's optimized noise maps belong to its latent: strength 0 then redraws proj.png.
    noise = load_latent(latent, G).noise if Path(latent).is_file() and len(labels) == 1 else None
    return EditPlan(ws, labels, ds.directions[index].to(ws.device), list(strengths), chosen, ds, index,
                    noise or None, tuple(warnings))


@torch.no_grad()
def render_edit(G, plan: EditPlan, outdir=None, video=None, *, noise_mode: str = "const", fps: float = 15,
                batch_size: int = 8, progress: Callable[[str, int, int], None] | None = None,
                force: bool = False) -> list[Path]:
    """Render ``plan``: per-strength images and a strip (``plan.outputs``) in ``outdir``, and/or a ``video``.

    The strip has one row per latent and one column per strength. Images use the plan's saved
    noise when it has some, else ``noise_mode`` (``random`` is seeded, so reruns agree); the video
    has one frame per strength. ``progress(stage, done, total)`` reports rendered images. The files
    are recorded as the edit's output set (``record_outputs``; with ``force`` they replace the
    previous edit's files in those folders). Returns the files written.
    """
    if outdir is None and video is None:
        raise InputError("nothing to write: pass --outdir and/or --video")
    written = []
    n, s = len(plan.labels), len(plan.strengths)
    if outdir is not None:
        outdir = Path(outdir)
        edited = apply_direction(plan.ws, plan.direction, torch.tensor(plan.strengths), plan.layers)  # latent-major
        torch.manual_seed(0)
        pixels = []
        for chunk in edited.split(batch_size):
            noise = [m.expand(len(chunk), -1, -1, -1) for m in plan.noise] if plan.noise else None
            pixels.append(to_uint8(G.synthesis(chunk, noise_mode=noise_mode, noise=noise)))
            if progress is not None:
                progress("edit", sum(len(p) for p in pixels), len(edited))
        pixels = np.concatenate(pixels)
        written += [save_pixels(outdir / name, px) for name, px in zip(plan.image_names, pixels)]
        written.append(save_pixels(outdir / plan.strip_name, image_grid(pixels, cols=s, rows=n)))
    if video is not None:
        from ..video import render_video

        frames = direction_sweep(plan.ws if n > 1 else plan.ws[0], plan.direction, plan.strengths, plan.layers,
                                 batch_size)
        torch.manual_seed(0)
        done = [0]

        def advance(k: int) -> None:
            done[0] += k
            if progress is not None:
                progress("video", done[0], s)

        render_video(G, frames, video, batch_size=batch_size, noise_mode=noise_mode, fps=fps, progress=advance)
        written.append(Path(video))
    record_outputs("edit", written, force)
    return written
