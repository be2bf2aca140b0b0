"""Pivotal tuning (Roich et al. 2021, "PTI"): fine-tune the synthesis network around a projected pivot.

A projection in W (the pivot) keeps edits working but misses what the generator never drew;
tuning the synthesis network until it draws the photo at the pivot closes that gap while the
latent stays where directions work. The mapping network and ``w_avg`` are never changed, so
directions found in W still apply. The change is kept as an *update*: the deltas of every
synthesis parameter (``full``) or low-rank factors of the convolution weights plus the small
vectors (``lora``), which is what gets saved per photo (``projector.tuned_file``) and is refused for any
other base model. A tuning asked to stop (``should_stop``) raises ``TuneInterrupted`` with a ``TuneState``
that ``tune(..., state=)`` continues exactly.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace

import torch
from torch.func import functional_call, vmap

from stylegan2_core import InputError, ShapeError, check_ws
from stylegan2_core.ops import use_impl

from .losses import make_perceptual
from .metrics.image_quality import psnr, ssim
from .optim import loss_input, rebuild_adam

__all__ = ["PIVOT_SPACE", "pivot_space", "UPDATES", "TuneConfig", "TuneStep", "TuneResult", "TuneState",
           "TuneInterrupted", "tune", "init_update", "apply_update", "check_update", "update_size"]

UPDATES = ("full", "lora")
PTI_LPIPS_STOP = 0.06  # PTI stops tuning once LPIPS falls below this
PIVOT_SPACE = "w"  # PTI tunes around a W projection (edits in W keep working)
_SUFFIXES = ("delta", "lora_a", "lora_b")


@dataclass(frozen=True)
class TuneConfig:
    """Pivotal-tuning settings. Steps, lr, loss weights, threshold and locality are PTI's; the low-rank
    update (rank 8, factors at 3 x lr) is the one whose tuned photos carry the most of each edit
    (edit transfer, ``projector.metrics.edit_transfer``) while fitting off-world photos 8 dB better
    than their pivot (docs/inversion.md)."""

    steps: int = 350
    lr: float = 3e-4  # Adam
    perceptual_weight: float = 1.0
    l2_weight: float = 1.0  # pixel mean squared error, images in [-1, 1]
    stop_distance: float | None = None  # stop below this distance (0: never); None: PTI's LPIPS 0.06 (stop_for)
    locality: bool = False  # PTI section 3.3 (renders near the pivot stay); off: +0.02 edit transfer for 2.6x the time
    locality_psi: float = 0.5  # z -> w with this truncation
    locality_alpha: float = 30.0  # step from the pivot towards the sampled w (norm over the whole ws)
    locality_l2_weight: float = 0.1
    locality_perceptual_weight: float = 0.1
    locality_samples: int = 1  # latents per step
    update: str = "lora"  # 'full': every synthesis parameter; 'lora': low-rank conv weights + small vectors
    rank: int = 8  # rank of the 'lora' factors
    lora_lr_scale: float = 3.0  # the factors learn at lr times this (x10 fits 2.2 dB closer, carries less of each edit)
    shared: bool = False  # one update for all photos (PTI's multi-ID mode) instead of one per photo
    max_loss_resolution: int = 256  # images are area-downsampled to this before the perceptual distance

    def __post_init__(self):
        if self.update not in UPDATES:
            raise InputError(f"unknown update {self.update!r}; use one of {UPDATES}")
        if self.steps < 0:
            raise InputError(f"tune steps must be >= 0, got {self.steps}")
        if self.rank < 1:
            raise InputError(f"rank must be >= 1, got {self.rank}")
        if self.locality_samples < 1:
            raise InputError(f"locality_samples must be >= 1, got {self.locality_samples}")
        for name in ("lr", "lora_lr_scale", "perceptual_weight", "l2_weight", "stop_distance", "locality_psi",
                     "locality_alpha", "locality_l2_weight", "locality_perceptual_weight"):
            value = getattr(self, name)
            if value is None and name == "stop_distance":
                continue
            if not math.isfinite(value) or value < 0:
                raise InputError(f"{name} must be a finite number >= 0, got {value}")

    def to_dict(self) -> dict:
        return asdict(self)

    def stop_for(self, distance) -> float:
        """The early-stop threshold for ``distance``: ``stop_distance`` when set, else PTI's 0.06,
        which is an LPIPS value and so applies to LPIPS only (other distances run every step)."""
        if self.stop_distance is not None:
            return self.stop_distance
        return PTI_LPIPS_STOP if getattr(distance, "name", "") == "lpips" else 0.0

    @classmethod
    def from_dict(cls, data: dict) -> TuneConfig:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise InputError(f"unknown tune settings {sorted(unknown)}")
        return cls(**data)


def pivot_space(space: str | None, tuning: bool) -> str | None:
    """The latent space to project in: ``space`` when one is asked for, else PTI's W when tuning
    follows, else None (the preset's)."""
    return space or (PIVOT_SPACE if tuning else None)


PIVOTS = ("projection", "encoder")


def pivot_settings(preset: str, space: str | None, tuning: bool, pivot: str = "projection") -> tuple[str, str | None]:
    """(projector preset, latent space) of the projection before tuning. Pivot ``'projection'``: ``preset`` in
    ``pivot_space``; pivot ``'encoder'`` (or the ``'instant'`` preset): the encoder's inversion is the pivot,
    no optimization before tuning (GANInverter's two-stage pipeline), in its W+."""
    if pivot not in PIVOTS:
        raise InputError(f"unknown pivot {pivot!r}; use one of {PIVOTS}")
    if pivot == "encoder" and not tuning:
        raise InputError("--pivot encoder names the pivot of --tune; without tuning, --preset instant is the "
                         "encoder's inversion")
    if pivot == "encoder" or preset == "instant":
        return "instant", space
    return preset, pivot_space(space, tuning)


@dataclass
class TuneStep:
    """Progress of one tuning step: which photo (None when several are tuned at once), the step's
    mean loss and the distances of the photos it tuned."""

    step: int
    num_steps: int
    photo: int | None
    loss: float
    distance: torch.Tensor  # [photos still tuning] perceptual distance before the step


@dataclass
class TuneResult:
    """Tuned generators, their updates, and the figures before (pivot) and after tuning, per photo."""

    generators: list  # one tuned generator per photo (shared mode: the same one N times)
    updates: list[dict[str, torch.Tensor]]  # per photo (shared mode: the same dict N times)
    images: torch.Tensor  # [N, C, R, R] tuned renders of the pivots with the pivots' noise maps
    distance: torch.Tensor  # [N] perceptual distance after tuning
    psnr: torch.Tensor  # [N] dB
    ssim: torch.Tensor  # [N]
    pivot_distance: torch.Tensor  # [N] the same figures for the base generator at the pivot
    pivot_psnr: torch.Tensor
    pivot_ssim: torch.Tensor
    steps: list[int]  # steps run per update (early stop may end one sooner)
    seconds: float
    config: TuneConfig
    loss_name: str
    history: list[float] = field(default_factory=list)  # mean loss over the photos tuned, per step

    @property
    def generator(self):
        """The tuned generator of the first photo (the only one for a single photo or in shared mode)."""
        return self.generators[0]


# --------------------------------------------------------------------------- updates


def _tuned_parameters(G, update: str) -> dict[str, torch.Tensor]:
    """Synthesis parameters an update touches: all of them ('full') or all but the style affines ('lora')."""
    params = dict(G.synthesis.named_parameters())
    if update == "full":
        return params
    return {name: p for name, p in params.items() if ".affine." not in name}


def _low_rank(shape: torch.Size, rank: int) -> bool:
    """Conv weights get factors when they are smaller than the tensor itself."""
    if len(shape) != 4:
        return False
    out_features, in_features = shape[0], math.prod(shape[1:])
    return rank * (out_features + in_features) < out_features * in_features


def init_update(G, update: str = "lora", rank: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    """A zero update for ``G`` (``name.delta`` zeros; ``name.lora_b`` zeros and seeded ``name.lora_a``).

    ``lora_a`` entries have std 1/sqrt(rank) so that, with Adam, the product ``lora_b @ lora_a``
    moves at about the rate of a directly tuned weight (the stored weights have unit scale).
    """
    if update not in UPDATES:
        raise InputError(f"unknown update {update!r}; use one of {UPDATES}")
    gen = torch.Generator().manual_seed(int(seed))
    tensors = {}
    for name, p in _tuned_parameters(G, update).items():
        if update == "lora" and _low_rank(p.shape, rank):
            fan_in = math.prod(p.shape[1:])
            tensors[f"{name}.lora_a"] = (torch.randn([rank, fan_in], generator=gen) / math.sqrt(rank)).to(p.device)
            tensors[f"{name}.lora_b"] = torch.zeros([p.shape[0], rank], device=p.device)
        else:
            tensors[f"{name}.delta"] = torch.zeros_like(p, dtype=torch.float32)
    return tensors


def _merged(G, update: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Synthesis parameter name -> base + change, for every parameter the update touches."""
    base = dict(G.synthesis.named_parameters())
    merged = {}
    for key, value in update.items():
        name, kind = key.rsplit(".", 1)
        if kind == "delta":
            merged[name] = base[name] + value
        elif kind == "lora_a":
            b = update[f"{name}.lora_b"]
            merged[name] = base[name] + (b @ value).reshape(base[name].shape)
    return merged


def check_update(G, update: dict[str, torch.Tensor], where: str) -> None:
    """Every key names a synthesis parameter of ``G`` with a matching shape; factors come in pairs."""
    params = dict(G.synthesis.named_parameters())
    for key, value in update.items():
        name, _, kind = key.rpartition(".")
        if kind not in _SUFFIXES or name not in params:
            raise InputError(f"{where}: entry {key!r} is not a parameter of this network's synthesis")
        shape = params[name].shape
        if kind == "delta" and value.shape != shape:
            raise ShapeError(f"{where}: {key} is {list(value.shape)}, the network's {name} is {list(shape)}")
        if kind == "lora_a":
            b = update.get(f"{name}.lora_b")
            if b is None or value.ndim != 2 or b.ndim != 2 or b.shape != (shape[0], value.shape[0]) \
                    or value.shape[1] != math.prod(shape[1:]):
                raise ShapeError(f"{where}: low-rank factors of {name} do not fit its shape {list(shape)}")
        if kind == "lora_b" and f"{name}.lora_a" not in update:
            raise ShapeError(f"{where}: {key} has no matching lora_a")
        if not torch.isfinite(value).all():
            raise InputError(f"{where}: {key} contains NaN or inf")


def apply_update(G, update: dict[str, torch.Tensor], where: str = "update"):
    """A copy of ``G`` whose synthesis parameters carry ``update``; ``G`` itself is not changed.

    Refuses (``InputError`` naming ``where``) an update that takes a weight to NaN or inf, as finite
    but huge low-rank factors do.
    """
    check_update(G, update, where)
    tuned = copy.deepcopy(G)
    device = G.mapping.w_avg.device
    merged = _merged(G, {k: v.to(device, torch.float32) for k, v in update.items()})
    for name, value in merged.items():
        if not torch.isfinite(value).all():
            raise InputError(f"{where}: the update takes the network's {name} to NaN or inf")
    with torch.no_grad():
        params = dict(tuned.synthesis.named_parameters())
        for name, value in merged.items():
            params[name].copy_(value)
    return tuned.eval().requires_grad_(False)


def update_size(update: dict[str, torch.Tensor]) -> int:
    """Number of stored values in an update."""
    return sum(v.numel() for v in update.values())


# --------------------------------------------------------------------------- tuning


class _Perceptual:
    """The perceptual distance at the loss resolution, with cached reference features when it offers them."""

    def __init__(self, distance, resolution: int):
        self.distance = distance
        self.resolution = resolution
        self.cached = hasattr(distance, "embed") and hasattr(distance, "distance")

    def reference(self, images: torch.Tensor):
        with torch.no_grad():
            small = loss_input(images, self.resolution)
            return self.distance.embed(small) if self.cached else small

    def __call__(self, images: torch.Tensor, reference) -> torch.Tensor:
        small = loss_input(images, self.resolution)
        if self.cached:
            return self.distance.distance(self.distance.embed(small), reference)
        return self.distance(small, reference)


def _locality_ws(G, pivots: torch.Tensor, cfg: TuneConfig, gen: torch.Generator, c) -> torch.Tensor:
    """PTI's latents around the pivots: sampled w (psi 0.5) and a step of alpha from each pivot towards it."""
    device = pivots.device
    z = torch.randn([cfg.locality_samples, G.z_dim], generator=gen).to(device)
    cc = None
    if G.c_dim:
        cc = c[torch.randint(len(c), [cfg.locality_samples], generator=gen)]
    with torch.no_grad():
        w = G.mapping(z, cc, truncation_psi=cfg.locality_psi)
    pivot = pivots[torch.randint(len(pivots), [cfg.locality_samples], generator=gen)]
    direction = w - pivot
    norm = direction.flatten(1).norm(dim=1).clamp_min(1e-8).reshape(-1, 1, 1)
    return pivot + cfg.locality_alpha * direction / norm


@dataclass
class TuneState:
    """Where a tuning stopped, complete enough to continue it exactly (``tune(..., state=)``).

    One entry per update being tuned: one for all photos in shared mode (and for a single photo),
    else one per photo. ``moments`` are Adam's (exp_avg, exp_avg_sq) per update tensor, empty before
    the first step and for an update that stopped early; ``rng`` each update's locality random stream.
    """

    step: int  # the next step to run
    num_steps: int
    updates: list[dict[str, torch.Tensor]]  # an update that stopped early holds its final tensors
    moments: list[dict[str, tuple[torch.Tensor, torch.Tensor]]]
    adam_step: float
    rng: list[torch.Tensor]
    stopped: list[int | None]  # the step an update stopped early at; None while it tunes
    history: list[float] = field(default_factory=list)  # mean loss per step so far
    seconds: float = 0.0  # tuning time so far

    def update(self, i: int) -> TuneState:
        """The state of update ``i`` alone (photo ``i`` of a per-photo tuning)."""
        return replace(self, updates=self.updates[i:i + 1], moments=self.moments[i:i + 1], rng=self.rng[i:i + 1],
                       stopped=self.stopped[i:i + 1])

    @staticmethod
    def start(G, cfg: TuneConfig, photos: int, seed: int = 0) -> TuneState:
        """No step run yet: the fresh updates ``tune`` starts ``photos`` photos from (update ``i`` and its
        random stream seeded with ``seed + i``; one update in shared mode or for a single photo)."""
        count = _update_count(cfg, photos)
        return TuneState(step=0, num_steps=cfg.steps,
                         updates=[init_update(G, cfg.update, cfg.rank, seed=seed + i) for i in range(count)],
                         moments=[{} for _ in range(count)], adam_step=0.0,
                         rng=[torch.Generator().manual_seed(seed + i).get_state() for i in range(count)],
                         stopped=[None] * count)

    @staticmethod
    def stack(states: list[TuneState]) -> TuneState:
        """Updates' states side by side (they must have stopped at the same step of the same schedule)."""
        first = states[0]
        if any((s.step, s.num_steps, s.adam_step) != (first.step, first.num_steps, first.adam_step) for s in states):
            raise InputError("these tunings stopped at different points; resume them one at a time")
        return replace(first, updates=[u for s in states for u in s.updates],
                       moments=[m for s in states for m in s.moments], rng=[r for s in states for r in s.rng],
                       stopped=[x for s in states for x in s.stopped])


class TuneInterrupted(Exception):
    """Raised by ``tune`` between two steps when ``should_stop()`` turned true; carries the state."""

    def __init__(self, state: TuneState):
        super().__init__(f"tuning stopped before step {state.step} of {state.num_steps}")
        self.state = state


def _update_count(cfg: TuneConfig, photos: int) -> int:
    """Updates tuned for ``photos`` photos: one shared by all (or for a single photo), else one per photo."""
    return 1 if cfg.shared or photos == 1 else photos


def _check_state(G, cfg: TuneConfig, state: TuneState, count: int) -> None:
    """A saved state continues only the tuning it came from: the same steps, update kind, rank and photos."""
    fresh = init_update(G, cfg.update, cfg.rank)
    fits = state.num_steps == cfg.steps and 0 <= state.step <= cfg.steps and len(state.updates) == count \
        and all(u.keys() == fresh.keys() and all(u[k].shape == v.shape for k, v in fresh.items())
                for u in state.updates)
    if not fits:
        raise InputError(f"the saved tuning state ({len(state.updates)} updates, step {state.step} of "
                         f"{state.num_steps}) is not for these settings ({count} updates, {cfg.steps} steps, "
                         f"{cfg.update} update, rank {cfg.rank}); tune from the start")
    for update in state.updates:
        check_update(G, update, "saved tuning state")


class _Tuning:
    """What every step of one tuning needs: the photos, their pivots, and how updates draw them.

    ``stacked``: one update per photo, drawn side by side with ``vmap`` over the photos' own weights
    (reference ops: the CUDA kernels do not batch that way); else one update draws every photo.
    Each update's loss is its photos' mean PTI loss (pixel MSE and perceptual distance) plus, with
    ``locality``, the mean locality term of latents sampled around its pivots.
    """

    def __init__(self, G, target, reference, ws, noise, cfg: TuneConfig, perceptual: _Perceptual, c, stacked: bool):
        self.G, self.target, self.reference, self.ws, self.noise = G, target, reference, ws, noise
        self.cfg, self.perceptual, self.c, self.stacked = cfg, perceptual, c, stacked

    def rows(self, active: torch.Tensor) -> torch.Tensor:
        """The photos the ``active`` updates draw."""
        return active if self.stacked else torch.arange(len(self.ws), device=self.ws.device)

    def draw(self, params: dict[str, torch.Tensor], ws: torch.Tensor, noise: list[torch.Tensor] | None = None):
        """Each update's (leading dim of ``params``) images of its latents ``ws`` [updates, B, num_ws, w_dim]
        with noise maps [updates, B, 1, H, W] per layer (default: constant noise), as [updates * B, C, R, R]."""
        def one(update, w, maps):
            kwargs = {"noise": maps} if maps is not None else {"noise_mode": "const"}
            return functional_call(self.G.synthesis, _merged(self.G, update), (w,),
                                   {**kwargs, "fused_modconv": self.stacked or w.shape[0] == 1})

        if not self.stacked:
            return one({k: v[0] for k, v in params.items()}, ws[0], None if noise is None else [m[0] for m in noise])
        with use_impl("ref"):
            return vmap(one, in_dims=(0, 0, None if noise is None else 0))(params, ws, noise).flatten(0, 1)

    def measure(self, params, active: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The active updates' renders of their photos at the pivots, and the photos' perceptual distances."""
        rows = self.rows(active)
        groups = len(active)
        images = self.draw(params, self.ws[rows].unflatten(0, (groups, -1)),
                           [m[rows].unflatten(0, (groups, -1)) for m in self.noise])
        reference = self.reference if not self.stacked else _rows(self.reference, rows)
        return images, self.perceptual(images, reference)

    def loss(self, params, active: torch.Tensor, images, dist, gens: list[torch.Generator]) -> torch.Tensor:
        """Each active update's loss [updates]."""
        cfg, rows = self.cfg, self.rows(active)
        fit = cfg.perceptual_weight * dist + cfg.l2_weight * (images - self.target[rows]).square().mean(dim=(1, 2, 3))
        loss = fit.reshape(len(active), -1).mean(dim=1)
        if not cfg.locality:
            return loss
        pivots = [self.ws[i:i + 1] for i in active.tolist()] if self.stacked else [self.ws]
        near = torch.stack([_locality_ws(self.G, p, cfg, gens[u], self.c) for p, u in zip(pivots, active.tolist())])
        with torch.no_grad():
            original = self.G.synthesis(near.flatten(0, 1), noise_mode="const")
        drawn = self.draw(params, near)
        local = cfg.locality_l2_weight * (drawn - original).square().mean(dim=(1, 2, 3)) \
            + cfg.locality_perceptual_weight * self.perceptual(drawn, self.perceptual.reference(original))
        return loss + local.reshape(len(active), -1).mean(dim=1)


def _rows(reference, index: torch.Tensor):
    """Rows ``index`` of the cached reference (a tensor, or a list of feature tensors)."""
    return reference[index] if isinstance(reference, torch.Tensor) else [f[index] for f in reference]


def _optimizer(state: TuneState, keys: list[str], active: list[int], cfg: TuneConfig, device
               ) -> tuple[list[torch.Tensor], torch.optim.Adam]:
    """The active updates stacked per tensor (vectors' group at ``lr``, factors' at ``lr * lora_lr_scale``)
    and their Adam, moments restored from ``state``."""
    params = [torch.stack([state.updates[u][k] for u in active]).to(device).requires_grad_(True) for k in keys]
    vectors = sum(k.endswith(".delta") for k in keys)
    groups = [{"params": params[:vectors], "lr": cfg.lr}]
    if vectors < len(params):
        groups.append({"params": params[vectors:], "lr": cfg.lr * cfg.lora_lr_scale})
    optimizer = torch.optim.Adam(groups, betas=(0.9, 0.999))
    if state.adam_step:
        for k, p in zip(keys, params):
            optimizer.state[p] = {"step": torch.tensor(state.adam_step),
                                  "exp_avg": torch.stack([state.moments[u][k][0] for u in active]).to(device),
                                  "exp_avg_sq": torch.stack([state.moments[u][k][1] for u in active]).to(device)}
    return params, optimizer


def _snapshot(state: TuneState, step: int, keys, params, optimizer, active: list[int], gens, seconds: float
              ) -> TuneState:
    """``state`` advanced to ``step``: the active updates' tensors, moments and random streams now."""
    updates, moments, adam = list(state.updates), list(state.moments), optimizer.state.get(params[0], {})
    for row, u in enumerate(active):
        updates[u] = {k: p[row].detach().clone() for k, p in zip(keys, params)}
        moments[u] = {k: (optimizer.state[p]["exp_avg"][row].clone(), optimizer.state[p]["exp_avg_sq"][row].clone())
                      for k, p in zip(keys, params)} if adam else {}
    return replace(state, step=step, updates=updates, moments=moments, rng=[g.get_state() for g in gens],
                   adam_step=float(adam["step"]) if adam else 0.0, stopped=list(state.stopped),
                   history=list(state.history), seconds=seconds)


def _optimize(run: _Tuning, state: TuneState, callback, should_stop, photo: int | None) -> TuneState:
    """Adam on every update of ``state`` from its step on, each update with its own loss and early stop: an
    update whose photos' distances all fall below the threshold keeps the tensors it has then and leaves.
    Returns the final state; raises ``TuneInterrupted`` with the state when ``should_stop()`` turns true."""
    cfg, device, start, seconds = run.cfg, run.ws.device, time.perf_counter(), state.seconds
    state = replace(state, history=list(state.history))
    keys = sorted(state.updates[0], key=lambda k: not k.endswith(".delta"))  # vectors first, then factors
    active = [u for u, stopped in enumerate(state.stopped) if stopped is None]
    if not active:
        return state
    params, optimizer = _optimizer(state, keys, active, cfg, device)
    gens = [torch.Generator().set_state(r) for r in state.rng]
    stop = cfg.stop_for(run.perceptual.distance)

    def now(step: int) -> TuneState:
        return _snapshot(state, step, keys, params, optimizer, active, gens, seconds + time.perf_counter() - start)

    for step in range(state.step, cfg.steps):
        rows = torch.tensor(active, device=device)
        images, dist = run.measure(dict(zip(keys, params)), rows)
        done = (dist.detach() < stop).reshape(len(active), -1).all(dim=1) if stop else dist.new_zeros(len(active)).bool()
        if done.any():
            state, leaving = now(step), set(rows[done].tolist())
            state.stopped = [step if u in leaving else s for u, s in enumerate(state.stopped)]
            state.moments = [{} if u in leaving else m for u, m in enumerate(state.moments)]
            keep = (~done).nonzero().flatten()
            active = [active[i] for i in keep.tolist()]
            if not active:
                break
            params, optimizer = rebuild_adam(optimizer, lambda x, _, keep=keep: x[keep.to(x.device)])
            rows = torch.tensor(active, device=device)
            images, dist = run.measure(dict(zip(keys, params)), rows)
        loss = run.loss(dict(zip(keys, params)), rows, images, dist, gens)
        optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()
        optimizer.step()
        state.history.append(float(loss.detach().mean()))
        if callback is not None:
            callback(TuneStep(step=step, num_steps=cfg.steps, photo=photo, loss=state.history[-1],
                              distance=dist.detach()))
        if should_stop is not None and step + 1 < cfg.steps and should_stop():
            raise TuneInterrupted(now(step + 1))
    return now(cfg.steps)


def tune(G, target: torch.Tensor, pivot_ws: torch.Tensor, cfg: TuneConfig = TuneConfig(), *, distance=None,
         noise: list[torch.Tensor] | None = None, c: torch.Tensor | None = None,
         callback: Callable[[TuneStep], None] | None = None, seed: int = 0,
         should_stop: Callable[[], bool] | None = None, state: TuneState | None = None) -> TuneResult:
    """Tune ``G``'s synthesis network so that it draws ``target`` at ``pivot_ws``.

    Args:
        G: base generator (not changed).
        target: [N, C, R, R] images in [-1, 1] at the generator's resolution.
        pivot_ws: [N, num_ws, w_dim] the projection of each image (W or W+, from ``projector.project``).
        cfg: tuning settings.
        distance: perceptual distance (``projector.losses``); default ``make_perceptual('auto')``.
        noise: the projection's noise maps (per layer [N, 1, H, W]); default the constant noise.
        c: class labels [N or 1, c_dim] of a conditional network (for the locality latents).
        callback: called after every step with a ``TuneStep``.
        seed: seeds the low-rank initialisation and the locality latents (photo i uses ``seed + i``).
        should_stop: checked after every step; when it returns True, ``TuneInterrupted`` is raised
            carrying the ``TuneState`` to continue from.
        state: continue a stopped tuning of the same photos and settings (exactly: the result equals
            the uninterrupted one's).
    Returns:
        ``TuneResult``; each photo has its own update unless ``cfg.shared``. Per-photo updates are
        tuned side by side in one batch, each photo with its own loss and early stop.
    """
    device = G.mapping.w_avg.device
    R = G.img_resolution
    if target.ndim != 4 or target.shape[1:] != (G.img_channels, R, R):
        raise InputError(f"target must be [N, {G.img_channels}, {R}, {R}], got {list(target.shape)}")
    n = target.shape[0]
    ws = check_ws(pivot_ws, G, "pivot").to(device, torch.float32).detach()
    if ws.shape[0] != n:
        raise InputError(f"{ws.shape[0]} pivots for {n} images")
    target = target.to(device, torch.float32)
    if noise is None:
        noise = [m.to(device).expand(n, -1, -1, -1) for m in G.synthesis.const_noise()]
    else:
        noise = [m.detach().to(device, torch.float32).expand(n, -1, -1, -1) for m in noise]
    if G.c_dim:
        if c is None or not c.numel():
            if cfg.locality:
                raise InputError(f"this network is conditional ({G.c_dim} classes): pass a class label")
        else:
            c = c.to(device).reshape(-1, G.c_dim)
    if distance is None:
        distance, _ = make_perceptual("auto", device=device)
    perceptual = _Perceptual(distance, cfg.max_loss_resolution)
    state = state or TuneState.start(G, cfg, n, int(seed))
    _check_state(G, cfg, state, _update_count(cfg, n))

    start, earlier = time.perf_counter(), state.seconds
    run = _Tuning(G, target, perceptual.reference(target), ws, noise, cfg, perceptual, c,
                  stacked=_update_count(cfg, n) > 1)
    state = _optimize(run, state, callback, should_stop, photo=0 if n == 1 and not cfg.shared else None)
    updates = [{k: v.detach() for k, v in u.items()} for u in state.updates]
    generators = [apply_update(G, u) for u in updates]
    state.seconds = earlier + time.perf_counter() - start  # the setup and the merge count too
    if cfg.shared:
        generators, updates = generators * n, updates * n
    return _result(G, run, generators, updates, state, distance)


def _result(G, run: _Tuning, generators, updates, state: TuneState, distance) -> TuneResult:
    """The tuned generators with the figures of each photo tuned and at the pivot."""
    ws, noise, target, n = run.ws, run.noise, run.target, len(run.ws)
    with torch.no_grad():
        images = torch.cat([g.synthesis(ws[i:i + 1], noise=[m[i:i + 1] for m in noise])
                            for i, g in enumerate(generators)])
        base = G.synthesis(ws, noise=noise)
        reference = run.reference
        twice = [torch.cat([f, f]) for f in reference] if isinstance(reference, list) else reference.repeat(2, 1, 1, 1)
        both = run.perceptual(torch.cat([images, base]), twice)
        figures = [(dist, psnr(x, target), ssim(x, target)) for dist, x in zip(both.split(n), (images, base))]
    return TuneResult(generators=generators, updates=updates, images=images, distance=figures[0][0],
                      psnr=figures[0][1], ssim=figures[0][2], pivot_distance=figures[1][0], pivot_psnr=figures[1][1],
                      pivot_ssim=figures[1][2], steps=[run.cfg.steps if s is None else s for s in state.stopped],
                      seconds=state.seconds, config=run.cfg, loss_name=getattr(distance, "name", "custom"),
                      history=state.history)
