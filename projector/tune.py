"""Pivotal tuning (Roich et al. 2021, "PTI"): fine-tune the synthesis network around a projected pivot.

A projection in W (the pivot) keeps edits working but misses what the generator never drew;
tuning the synthesis network until it draws the photo at the pivot closes that gap while the
latent stays where directions work. The mapping network and ``w_avg`` are never changed, so
directions found in W still apply. The change is kept as an *update*: the deltas of every
synthesis parameter (``full``) or low-rank factors of the convolution weights plus the small
vectors (``lora``), which is what gets saved per photo and is refused for any other base model.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields

import torch
from torch.func import functional_call, vmap

from stylegan2_core import InputError, ShapeError, check_ws
from stylegan2_core.ops import use_impl

from .losses import make_perceptual
from .metrics.image_quality import psnr, ssim
from .project import _loss_input, _rebuild

__all__ = ["PIVOT_SPACE", "pivot_space", "UPDATES", "TuneConfig", "TuneStep", "TuneResult", "tune", "init_update",
           "apply_update", "check_update", "update_size"]

UPDATES = ("full", "lora")
PTI_LPIPS_STOP = 0.06  # PTI stops tuning once LPIPS falls below this
PIVOT_SPACE = "w"  # PTI tunes around a W projection (edits in W keep working)
_SUFFIXES = ("delta", "lora_a", "lora_b")


@dataclass(frozen=True)
class TuneConfig:
    """Pivotal-tuning settings; the defaults are PTI's (steps, lr, loss weights, threshold, locality)."""

    steps: int = 350
    lr: float = 3e-4  # Adam
    perceptual_weight: float = 1.0
    l2_weight: float = 1.0  # pixel mean squared error, images in [-1, 1]
    stop_distance: float | None = None  # stop below this distance (0: never); None: PTI's LPIPS 0.06 (stop_for)
    locality: bool = False  # PTI section 3.3 (renders near the pivot stay); off: it cost fidelity and 2.4x the time
    locality_psi: float = 0.5  # z -> w with this truncation
    locality_alpha: float = 30.0  # step from the pivot towards the sampled w (norm over the whole ws)
    locality_l2_weight: float = 0.1
    locality_perceptual_weight: float = 0.1
    locality_samples: int = 1  # latents per step
    update: str = "lora"  # 'full': every synthesis parameter; 'lora': low-rank conv weights + small vectors
    rank: int = 4  # rank of the 'lora' factors
    lora_lr_scale: float = 10.0  # the factors learn at lr times this (x1 ends 1.3 dB below full tuning; docs/inversion.md)
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
            small = _loss_input(images, self.resolution)
            return self.distance.embed(small) if self.cached else small

    def __call__(self, images: torch.Tensor, reference) -> torch.Tensor:
        small = _loss_input(images, self.resolution)
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


def _run(G, target, reference, ws, noise, cfg, perceptual, gen, c, update, photo, callback, history) -> int:
    """Adam on ``update`` for one photo (or, in shared mode, all of them at once); returns the steps run."""
    params = list(update.values())
    for p in params:
        p.requires_grad_(True)
    factors = [v for k, v in update.items() if not k.endswith(".delta")]
    vectors = [v for k, v in update.items() if k.endswith(".delta")]
    groups = [{"params": vectors, "lr": cfg.lr}] + ([{"params": factors, "lr": cfg.lr * cfg.lora_lr_scale}]
                                                     if factors else [])
    optimizer = torch.optim.Adam(groups, betas=(0.9, 0.999))
    fused = target.shape[0] == 1
    stop = cfg.stop_for(perceptual.distance)
    steps_run = cfg.steps
    for step in range(cfg.steps):
        merged = _merged(G, update)
        images = functional_call(G.synthesis, merged, (ws,), {"noise": noise, "fused_modconv": fused})
        dist = perceptual(images, reference)
        if stop and bool((dist.detach() < stop).all()):
            steps_run = step
            break
        l2 = (images - target).square().mean(dim=(1, 2, 3))
        loss = (cfg.perceptual_weight * dist + cfg.l2_weight * l2).mean()
        if cfg.locality:
            near = _locality_ws(G, ws, cfg, gen, c)
            with torch.no_grad():
                original = G.synthesis(near, noise_mode="const")
            drawn = functional_call(G.synthesis, merged, (near,), {"noise_mode": "const",
                                                                  "fused_modconv": len(near) == 1})
            loc_l2 = (drawn - original).square().mean(dim=(1, 2, 3))
            loc_p = perceptual(drawn, perceptual.reference(original))
            loss = loss + (cfg.locality_l2_weight * loc_l2 + cfg.locality_perceptual_weight * loc_p).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        history.append(float(loss.detach()))
        if callback is not None:
            callback(TuneStep(step=step, num_steps=cfg.steps, photo=photo, loss=float(loss.detach()),
                              distance=dist.detach()))
    for p in params:
        p.requires_grad_(False)
    return steps_run


def _rows(reference, index: torch.Tensor):
    """Rows ``index`` of the cached reference (a tensor, or a list of feature tensors)."""
    return reference[index] if isinstance(reference, torch.Tensor) else [f[index] for f in reference]


def _run_per_photo(G, target, reference, ws, noise, cfg, perceptual, seed, c, callback, history):
    """Adam on one update per photo, all photos in one batch: ``vmap`` maps the synthesis over the
    photos' own weights (reference ops: the CUDA kernels do not batch that way). Each photo's loss
    is its own term of a sum, so it gets the gradient it would get alone; a photo whose distance
    falls below the threshold keeps the update it has then and leaves the batch.
    Returns the updates and the steps run, per photo."""
    n = len(target)
    inits = [init_update(G, cfg.update, cfg.rank, seed=seed + i) for i in range(n)]
    keys = sorted(inits[0], key=lambda k: not k.endswith(".delta"))  # vectors first, then factors
    params = [torch.stack([u[k] for u in inits]).to(ws.device).requires_grad_(True) for k in keys]
    vectors = sum(k.endswith(".delta") for k in keys)
    groups = [{"params": params[:vectors], "lr": cfg.lr}]
    if vectors < len(params):
        groups.append({"params": params[vectors:], "lr": cfg.lr * cfg.lora_lr_scale})
    optimizer = torch.optim.Adam(groups, betas=(0.9, 0.999))
    gens = [torch.Generator().manual_seed(seed + i) for i in range(n)]
    active = torch.arange(n, device=ws.device)  # the photo of each row
    final, steps_run = [None] * n, [cfg.steps] * n

    def snapshot(row: int) -> dict[str, torch.Tensor]:
        return {k: v[row].detach().clone() for k, v in zip(keys, params)}
    stop = cfg.stop_for(perceptual.distance)

    def draw(update, w, kwargs):  # one photo: its update, its latents
        return functional_call(G.synthesis, _merged(G, update), (w,), {**kwargs, "fused_modconv": True})

    def forward():
        with use_impl("ref"):
            images = vmap(lambda u, w, nz: draw(u, w[None], {"noise": [m[None] for m in nz]})[0])(
                dict(zip(keys, params)), ws[active], [m[active] for m in noise])
        return images, perceptual(images, _rows(reference, active))

    for step in range(cfg.steps):
        images, dist = forward()
        done = dist.detach() < stop if stop else torch.zeros_like(dist, dtype=torch.bool)
        if done.any():
            for row in done.nonzero().flatten().tolist():
                photo = int(active[row])
                steps_run[photo] = step
                final[photo] = snapshot(row)
            keep = (~done).nonzero().flatten()
            if not len(keep):
                break
            params, optimizer = _rebuild(optimizer, lambda x, _, keep=keep: x[keep])
            active = active[keep]
            images, dist = forward()
        per_photo = cfg.perceptual_weight * dist + cfg.l2_weight * (images - target[active]).square().mean(dim=(1, 2, 3))
        if cfg.locality:
            near = torch.stack([_locality_ws(G, ws[i:i + 1], cfg, gens[i], c) for i in active.tolist()])
            with torch.no_grad():
                original = G.synthesis(near.flatten(0, 1), noise_mode="const")
            with use_impl("ref"):
                drawn = vmap(lambda u, w: draw(u, w, {"noise_mode": "const"}))(dict(zip(keys, params)), near)
            drawn = drawn.flatten(0, 1)
            loc = cfg.locality_l2_weight * (drawn - original).square().mean(dim=(1, 2, 3)) \
                + cfg.locality_perceptual_weight * perceptual(drawn, perceptual.reference(original))
            per_photo = per_photo + loc.reshape(len(active), -1).mean(dim=1)
        optimizer.zero_grad(set_to_none=True)
        per_photo.sum().backward()
        optimizer.step()
        history.append(float(per_photo.detach().mean()))
        if callback is not None:
            callback(TuneStep(step=step, num_steps=cfg.steps, photo=None, loss=history[-1], distance=dist.detach()))
    for row, photo in enumerate(active.tolist()):
        if final[photo] is None:
            final[photo] = snapshot(row)
    return final, steps_run


def tune(G, target: torch.Tensor, pivot_ws: torch.Tensor, cfg: TuneConfig = TuneConfig(), *, distance=None,
         noise: list[torch.Tensor] | None = None, c: torch.Tensor | None = None,
         callback: Callable[[TuneStep], None] | None = None, seed: int = 0) -> TuneResult:
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

    start = time.perf_counter()
    reference = perceptual.reference(target)
    history: list[float] = []
    if cfg.shared or n == 1:
        update = {k: v.to(device) for k, v in init_update(G, cfg.update, cfg.rank, seed=int(seed)).items()}
        steps = [_run(G, target, reference, ws, noise, cfg, perceptual, torch.Generator().manual_seed(int(seed)), c,
                      update, None if cfg.shared else 0, callback, history)]
        updates = [{k: v.detach() for k, v in update.items()}]
    else:
        updates, steps = _run_per_photo(G, target, reference, ws, noise, cfg, perceptual, int(seed), c, callback,
                                        history)
    generators = [apply_update(G, u) for u in updates]
    seconds = time.perf_counter() - start
    if cfg.shared:
        generators, updates = generators * n, updates * n

    with torch.no_grad():
        images = torch.cat([g.synthesis(ws[i:i + 1], noise=[m[i:i + 1] for m in noise])
                            for i, g in enumerate(generators)])
        base = G.synthesis(ws, noise=noise)
        twice = [torch.cat([f, f]) for f in reference] if isinstance(reference, list) else reference.repeat(2, 1, 1, 1)
        both = perceptual(torch.cat([images, base]), twice)
        figures = [(dist, psnr(x, target), ssim(x, target)) for dist, x in zip(both.split(n), (images, base))]
    return TuneResult(generators=generators, updates=updates, images=images, distance=figures[0][0],
                      psnr=figures[0][1], ssim=figures[0][2], pivot_distance=figures[1][0], pivot_psnr=figures[1][1],
                      pivot_ssim=figures[1][2], steps=steps, seconds=seconds, config=cfg,
                      loss_name=getattr(distance, "name", "custom"), history=history)
