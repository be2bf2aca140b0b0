"""The studio's projection: one run per server (``ProjectionSlot``), the panel's options, progress and stopping.

A run is ``projector.project`` (then ``projector.tune`` when asked) with the slot's stop flag as
``should_stop``: a stopped projection keeps the latent of its last finished step, the one its
``ProjectionInterrupted`` state carries.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from stylegan2_core.errors import InputError, S2EditError
from stylegan2_core.image import to_uint8

from ..outputs import projection_report
from ..project import DEFAULT_PRESET, ProjectionInterrupted, ProjectionState, ProjectorConfig, project
from ..tune import TuneConfig, TuneInterrupted, pivot_space, tune

__all__ = ["StudioBusyError", "ProjectionSlot", "ProjectionOptions", "ProjectionUpdate", "Tuning",
           "ProjectionOutcome", "run_projection", "stopped_latent"]


class StudioBusyError(S2EditError):
    """Another projection is running on this server."""


class ProjectionSlot:
    """One projection at a time per server: who holds it and whether it was asked to stop."""

    def __init__(self):
        self._lock = threading.Lock()
        self.owner: str | None = None
        self.stop = threading.Event()

    def acquire(self, owner: str) -> None:
        if not self._lock.acquire(blocking=False):
            raise StudioBusyError("another projection is running on this server; try again when it ends")
        self.owner = owner
        self.stop.clear()

    def release(self) -> None:
        self.owner = None
        self._lock.release()

    @property
    def busy(self) -> bool:
        return self.owner is not None


@dataclass(frozen=True)
class ProjectionOptions:
    """What the projection panel sets; ``preset``, ``steps``, ``space``, ``noise`` and ``loss`` as
    ``s2edit project`` (``steps`` None: the preset's; ``space`` None: the preset's, W before tuning)."""

    preset: str = DEFAULT_PRESET
    steps: int | None = None
    space: str | None = None
    noise: str = "optimize"  # or 'fixed'
    loss: str = "auto"
    seed: int = 0
    tune: bool = False  # pivotal tuning (projector.tune) after the projection
    tune_steps: int | None = None  # None: TuneConfig's default

    def config(self) -> ProjectorConfig:
        if self.noise not in ("optimize", "fixed"):
            raise InputError(f"noise must be 'optimize' or 'fixed', got {self.noise!r}")
        if self.steps is not None and not 1 <= self.steps <= 5000:
            raise InputError(f"steps must be 1 .. 5000, got {self.steps}")
        if self.tune_steps is not None and not 1 <= self.tune_steps <= 5000:
            raise InputError(f"tune_steps must be 1 .. 5000, got {self.tune_steps}")
        space = pivot_space(self.space, tuning=True) if self.tune else self.space
        return ProjectorConfig.preset(self.preset, steps=self.steps, space=space,
                                      optimize_noise=self.noise == "optimize", seed=self.seed)

    def tune_config(self) -> TuneConfig:
        return TuneConfig() if self.tune_steps is None else TuneConfig(steps=self.tune_steps)


@dataclass
class ProjectionUpdate:
    """A progress report: the phase ('project' or 'tune'), the step, the distance so far and the step's render
    (HWC uint8; None while tuning, which renders no image per step)."""

    step: int
    num_steps: int
    distance: float
    image: np.ndarray | None
    phase: str = "project"


@dataclass
class Tuning:
    """A pivotally tuned generator: the network with ``update`` applied, and the settings behind it (None: unknown)."""

    generator: object
    update: dict[str, torch.Tensor]
    config: TuneConfig | None


@dataclass
class ProjectionOutcome:
    """What a run leaves: the latent [1, num_ws, w_dim], its noise maps (None: not optimized), the report,
    the settings it ran with and the tuned generator when it was tuned."""

    ws: torch.Tensor
    noise: list[torch.Tensor] | None
    report: dict
    config: ProjectorConfig
    tuning: Tuning | None = None


def _reporter(progress, every: int, phase: str):
    """A step callback: a ``ProjectionUpdate`` every ``every`` steps and at the last."""
    def on_step(s):
        if progress is not None and (s.step % every == 0 or s.step == s.num_steps - 1):
            image = getattr(s, "images", None)
            progress(ProjectionUpdate(s.step + 1, s.num_steps, float(s.distance.mean()),
                                      None if image is None else to_uint8(image[:1].clamp(-1, 1))[0], phase))

    return on_step


def stopped_latent(state: ProjectionState, G, optimize_noise: bool) -> tuple[torch.Tensor, list | None]:
    """The latent (and noise maps) of a stopped one-image projection: its best start at the last finished step."""
    best = int(torch.as_tensor(state.loss).argmin())
    ws = state.w_opt[best:best + 1].expand(-1, G.num_ws, -1).clone()
    noise = [m[best:best + 1].clone() for m in state.noise] if optimize_noise else None
    return ws, noise


def _tune(G, target, ws, noise, distance, options: ProjectionOptions, slot: ProjectionSlot, progress, every):
    """Pivotal tuning around the projection: (Tuning, report); (None, report) if stopped."""
    cfg = options.tune_config()
    on_step = _reporter(progress, every or max(1, cfg.steps // 20), "tune")
    try:
        result = tune(G, target, ws, cfg, distance=distance, noise=noise, callback=on_step,
                      should_stop=slot.stop.is_set)
    except TuneInterrupted:
        return None, {"stopped": True}
    return Tuning(result.generators[0], result.updates[0], cfg), {
        "stopped": False, "steps": result.steps[0], "perceptual_distance": float(result.distance[0]),
        "psnr_db": float(result.psnr[0]), "ssim": float(result.ssim[0]), "seconds": round(result.seconds, 3)}


def run_projection(G, target: torch.Tensor, options: ProjectionOptions, distance, slot: ProjectionSlot,
                   progress: Callable[[ProjectionUpdate], None] | None = None,
                   every: int | None = None, encoder=None) -> ProjectionOutcome:
    """Project ``target`` [1, C, R, R] (then tune when ``options.tune``); ``slot.stop`` ends the run early.
    With ``encoder`` the projection starts from its inversion (``project(..., encoder=)``).

    The caller holds ``slot``. ``progress`` gets a ``ProjectionUpdate`` every ``every`` steps (default:
    about 20 per run) and at the last step. A stopped projection keeps its last step's latent and is
    not tuned; a stopped tuning keeps the untuned generator.
    """
    cfg = options.config()
    cfg = cfg.encoder_started() if encoder is not None else cfg
    on_step = _reporter(progress, every or max(1, cfg.total_steps // 20), "project")
    try:
        result = project(G, target, cfg, distance=distance, callback=on_step, should_stop=slot.stop.is_set,
                         encoder=encoder)
    except ProjectionInterrupted as stopped:
        ws, noise = stopped_latent(stopped.state, G, cfg.optimize_noise)
        report = {"steps": stopped.state.step, "loss": getattr(distance, "name", "custom"), "stopped": True}
        return ProjectionOutcome(ws, noise, report, cfg)
    noise = result.noise if cfg.optimize_noise or cfg.encoder_only else None
    report = {**projection_report(result, 0, target, cfg), "stopped": False}
    tuning = None
    if options.tune:
        tuning, report["tuning"] = _tune(G, target, result.ws, noise, distance, options, slot, progress, every)
    return ProjectionOutcome(result.ws, noise, report, cfg, tuning)
