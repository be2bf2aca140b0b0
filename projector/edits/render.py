"""Render an attribute edit: latents moved along one direction at several strengths (plus fixed edits), as
images, a strip, a video and edited latent files.

This is ``s2edit edit`` as functions::

    plan = plan_edit(G, "out/me/latent.safetensors", "smile.npz", parse_strengths("-3:3:7"),
                     adds=[EditRecipe("lighting.npz", 2.0)], keep=["hair_color.npz"])
    render_edit(G, plan, outdir="edits", video="edits/smile.mp4")
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from stylegan2_core.errors import InputError
from stylegan2_core.image import to_uint8

from ..images import image_grid, save_pixels
from ..outputs import record_outputs
from .mixing import parse_layers, ws_resolutions
from .recipe import EditRecipe, ResolvedEdit, apply_edits, resolve_edits, source_edits

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
    """What an edit renders: ``ws`` [N, num_ws, w_dim] (one ``label`` each) moved by ``strengths`` x ``sweep``
    on top of the fixed ``edits`` (``--add``).

    ``sweep``: the swept direction (None: only the fixed edits, one image per latent); ``z``: the seeds'
    z when Z directions are used; ``noise``: the latent file's saved noise maps (used for every image, so
    strength 0 redraws its proj.png), or None; ``prior_edits``: the recipe the latent file already
    records; ``warnings``: things a user should know (e.g. the directions were made for another model).
    """

    ws: torch.Tensor
    labels: list[str]
    strengths: list[float]
    sweep: ResolvedEdit | None
    edits: list[ResolvedEdit] = field(default_factory=list)
    z: torch.Tensor | None = None
    truncation_psi: float = 1.0
    class_idx: int | None = None
    noise: list[torch.Tensor] | None = None
    prior_edits: list[dict] = field(default_factory=list)
    warnings: tuple[str, ...] = ()

    @property
    def direction_name(self) -> str:
        """The edit's name as a file-name part: the swept direction's, then ``+{name}{strength}`` per fixed
        edit (letters, digits, ``_.+-``; never a path)."""
        parts = ([self.sweep.name] if self.sweep else []) + [f"{e.name}{e.strength:+g}" for e in self.edits]
        return _UNSAFE_RE.sub("_", "+".join(parts)).strip("_.") or "edit"

    @property
    def image_names(self) -> list[str]:
        """One ``{label}_{direction}_{strength:+.2f}.png`` per latent and strength, latent-major
        (``{label}_{direction}.png`` without a swept direction)."""
        if self.sweep is None:
            return [f"{label}_{self.direction_name}.png" for label in self.labels]
        return [f"{label}_{self.direction_name}_{s:+.2f}.png" for label in self.labels for s in self.strengths]

    @property
    def strip_name(self) -> str:
        """``{label}_{direction}_strip.png`` (``{first}-{last}_...`` for several latents)."""
        latents = self.labels[0] if len(self.labels) == 1 else f"{self.labels[0]}-{self.labels[-1]}"
        return f"{latents}_{self.direction_name}_strip.png"

    @property
    def output_set(self) -> str:
        """This edit's name in the output manifest: one set per latents and direction, so ``--force`` replaces
        only the earlier outputs of the same latents and direction."""
        key = "\0".join([*self.labels, self.direction_name]).encode()
        return f"edit-{hashlib.sha256(key).hexdigest()[:16]}"

    def outputs(self, outdir=None, video=None, save_latents: bool = False) -> list[Path]:
        """The files ``render_edit`` writes for these arguments (for the no-overwrite check)."""
        files = [Path(outdir) / self.strip_name, *(Path(outdir) / n for n in self.image_names)] if outdir else []
        if outdir and save_latents:
            files += [Path(outdir) / Path(n).with_suffix(".safetensors") for n in self.image_names]
        return files + ([Path(video)] if video else [])

    def edits_at(self, strength: float) -> list[ResolvedEdit]:
        """The fixed edits, then the sweep at ``strength``."""
        return self.edits + ([self.sweep.with_strength(strength)] if self.sweep else [])

    def edited_ws(self, G) -> torch.Tensor:
        """[N·S, num_ws, w_dim], latent-major: row ``n·S + s`` is latent ``n`` with every edit at strength ``s``."""
        per_strength = [apply_edits(G, self.ws, self.edits_at(s), z=self.z, truncation_psi=self.truncation_psi,
                                    class_idx=self.class_idx) for s in self.strengths]
        return torch.stack(per_strength, 1).reshape(-1, *self.ws.shape[1:])


def plan_edit(G, latent: str, direction_file=None, strengths: list[float] = (0.0,), index: int = 0,
              layers: str | None = None, truncation_psi: float = 1.0, class_idx: int | None = None, *,
              adds: list[EditRecipe] = (), keep=(), space: str | None = None) -> EditPlan:
    """Load and check everything an edit needs; raises ``InputError`` on any mismatch with ``G``.

    ``latent``: a latent file or seed(s) (mapped with ``truncation_psi``); ``direction_file``: the swept
    direction (optional when ``adds`` are given), ``index`` its direction, ``layers`` a layer list
    (``parse_layers``; default the file's own layers, else all), ``space`` ``w``/``z`` to override the
    file's; ``adds``: fixed edits; ``keep``: ``FILE[:INDEX]`` directions every edit is made orthogonal to.
    """
    from ..latent_file import load_latent, model_mismatch, resolve_latents

    if direction_file is None and not adds:
        raise InputError("nothing to edit: pass --direction FILE and/or --add FILE=STRENGTH")
    chosen = parse_layers(layers, G.num_ws, ws_resolutions(G)) if layers else None
    sweep = [EditRecipe(str(direction_file), 0.0, index, chosen, space)] if direction_file is not None else []
    cache: dict = {}
    resolved = resolve_edits(G, [*sweep, *adds], keep, cache=cache)
    warnings = [f"{ds.meta.get('path')}: {m}" for ds in cache.values() if (m := model_mismatch(ds.meta, G))]
    ws, labels = resolve_latents([latent], G, truncation_psi=truncation_psi, class_idx=class_idx)
    z = _seed_z(G, latent, resolved) if any(e.space == "z" for e in resolved) else None
    # A projection's optimized noise maps belong to its latent: strength 0 then redraws proj.png.
    noise = load_latent(latent, G).noise if Path(latent).is_file() and len(labels) == 1 else None
    return EditPlan(ws, labels, list(strengths) if sweep else [0.0], resolved[0] if sweep else None,
                    resolved[len(sweep):], z, truncation_psi, class_idx, noise or None, source_edits(latent),
                    tuple(warnings))


def _seed_z(G, latent: str, edits: list[ResolvedEdit]) -> torch.Tensor:
    """The z of ``latent``'s seeds, for Z directions; a latent file (it has no z) is refused with the reason."""
    from stylegan2_core.latent import parse_seeds, z_from_seeds

    first = next(e for e in edits if e.space == "z").recipe.direction
    if Path(str(latent)).is_file():
        raise InputError(f"{first}: a Z direction moves the z of seeds before the mapping network; {latent} is a "
                         f"projected latent with no z: use a W direction (or pass --space w if the file is in W)")
    try:
        return z_from_seeds(parse_seeds(str(latent)), G.z_dim).to(G.mapping.w_avg.device)
    except InputError:
        raise InputError(f"{first}: a Z direction edits seeds only; {latent!r} is not a seed list") from None


@torch.no_grad()
def render_edit(G, plan: EditPlan, outdir=None, video=None, *, noise_mode: str = "const", fps: float = 15,
                batch_size: int = 8, progress: Callable[[str, int, int], None] | None = None,
                force: bool = False, save_latents: bool = False,
                removed: Callable[[list[Path]], None] | None = None) -> list[Path]:
    """Render ``plan``: per-strength images and a strip (``plan.outputs``) in ``outdir``, and/or a ``video``.

    The strip has one row per latent and one column per strength. Images use the plan's saved
    noise when it has some, else ``noise_mode`` (``random`` is seeded, so reruns agree); the video
    has one frame per strength. ``save_latents``: also one latent file per image, recording the recipe
    (``latent_file.EDITS_KEY``). ``progress(stage, done, total)`` reports rendered images. The files are
    recorded as this edit's output set (``EditPlan.output_set``); with ``force`` they replace that set's
    previous files, which are passed to ``removed``. Returns the files written.
    """
    if outdir is None and video is None:
        raise InputError("nothing to write: pass --outdir and/or --video")
    written = []
    n, s = len(plan.labels), len(plan.strengths)
    edited = plan.edited_ws(G)  # latent-major
    if outdir is not None:
        outdir = Path(outdir)
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
        if save_latents:
            written += _save_latents(G, plan, edited, outdir)
    if video is not None:
        written.append(_render_video(G, plan, edited, video, noise_mode, fps, batch_size, progress))
    gone = record_outputs(plan.output_set, written, force)
    if gone and removed is not None:
        removed(gone)
    return written


def _save_latents(G, plan: EditPlan, edited: torch.Tensor, outdir: Path) -> list[Path]:
    """One latent file per image, with the source's noise maps and the recipe: earlier edits, then these."""
    from ..latent_file import EDITS_KEY, model_provenance, save_latent

    paths = []
    for i, name in enumerate(plan.image_names):
        ws = edited[i:i + 1]
        space = "w+" if bool((ws - ws[:, :1]).abs().max() > 0) else "w"
        recipe = plan.prior_edits + [e.record() for e in plan.edits_at(plan.strengths[i % len(plan.strengths)])]
        meta = {**model_provenance(G), "space": space, "source": plan.labels[i // len(plan.strengths)],
                "resolution": G.img_resolution, EDITS_KEY: recipe}
        paths.append(save_latent(outdir / Path(name).with_suffix(".safetensors"), ws, plan.noise, meta))
    return paths


def _render_video(G, plan: EditPlan, edited: torch.Tensor, video, noise_mode: str, fps: float, batch_size: int,
                  progress) -> Path:
    """One frame per strength (a grid of the latents when there are several)."""
    from ..video import render_video

    n, s = len(plan.labels), len(plan.strengths)
    frames = edited.reshape(n, s, *edited.shape[1:]).transpose(0, 1)
    frames = frames[:, 0] if n == 1 else frames
    torch.manual_seed(0)
    done = [0]

    def advance(k: int) -> None:
        done[0] += k
        if progress is not None:
            progress("video", done[0], s)

    render_video(G, iter(frames.split(batch_size)), video, batch_size=batch_size, noise_mode=noise_mode, fps=fps,
                 progress=advance)
    return Path(video)
