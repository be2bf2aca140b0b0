"""Optimization-based projection (StyleGAN2 paper, appendix D), batched: the official algorithm
(``ProjectorConfig.preset('official')``) and a faster one that reaches its quality (``'fast'``).

Each image gets its own latent and noise maps and its own random stream, and the loss is a
sum of independent per-image terms, so in a batch every image solves its own problem, with
the same gradients as alone up to float rounding (~1e-6). The optimization amplifies rounding
(Adam's first steps move every coordinate by the full learning rate whatever the gradient's
size, so a 1e-6 change in the start becomes a different image within a few steps): a batch
therefore reaches results of the same quality as one-by-one projection, not the same bits.
A seed reproduces a run exactly for the same batch, thread count, device and torch build.

Differences from the official script: the optimized noise maps are returned (and used for
the final image) instead of being written into the generator's buffers; conditional
networks work; any device. ``ProjectorConfig.preset('fast')``, the default, adds a better
start, a shorter schedule and a per-image L-BFGS refinement of the latents at the end; in the
refinement every image also has its own curvature memory and line search (see
``docs/projection.md``).
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F

from stylegan2_core import InputError, check_ws, w_statistics, z_samples

from .losses import make_perceptual, noise_regularizer

__all__ = ["DEFAULT_PRESET", "PRESETS", "ProjectorConfig", "ProjectionStep", "ProjectionResult", "ProjectionState",
           "ProjectionInterrupted", "images_per_batch", "learning_rate", "w_noise_scale", "project"]

SPACES = ("w", "w+")


@dataclass(frozen=True)
class ProjectorConfig:
    """Projection settings; the defaults are the official projector's (``preset('official')``)."""

    steps: int = 1000
    space: str = "w"  # 'w': one latent broadcast to all layers (the paper); 'w+': one per layer
    optimize_noise: bool = True
    initial_lr: float = 0.1
    lr_rampup: float = 0.05  # fraction of steps with a linear ramp-up
    lr_rampdown: float = 0.25  # fraction of steps with a cosine ramp-down
    initial_noise_factor: float = 0.05  # latent noise, in units of the W std
    noise_ramp: float = 0.75  # latent noise decays quadratically to zero at this fraction
    noise_reg_weight: float = 1e5
    mse_weight: float = 0.0  # optional pixel MSE term (images in [-1, 1])
    w_avg_samples: int = 10_000
    w_avg_seed: int = 123
    max_loss_resolution: int = 256  # images are area-downsampled to this before the perceptual loss
    seed: int = 0
    init_samples: int = 0  # > 0: start from the best of the first this-many W samples by distance, not the mean w
    starts: int = 1  # optimize this many starting points per image side by side and keep the best result
    keep_best_at: float = 1.0  # after this fraction of the steps only each image's best start goes on
    w_first: float = 0.0  # space 'w+': optimize one latent for all layers during this fraction of the steps first
    refine_steps: int = 0  # then this many L-BFGS iterations on the latents (noise maps fixed), each image its own
    refine_memory: int = 10  # curvature pairs each image's L-BFGS keeps

    def __post_init__(self):
        if self.space not in SPACES:
            raise InputError(f"unknown latent space {self.space!r}; use one of {SPACES}")
        if self.steps < 1:
            raise InputError(f"steps must be >= 1, got {self.steps}")
        if self.refine_steps < 0 or self.refine_memory < 1:
            raise InputError(f"refine_steps must be >= 0 and refine_memory >= 1, got {self.refine_steps} and "
                             f"{self.refine_memory}")
        if self.starts < 1 or self.init_samples < 0:
            raise InputError(f"starts must be >= 1 and init_samples >= 0, got {self.starts} and {self.init_samples}")
        if not (0 < self.keep_best_at <= 1 and 0 <= self.w_first < 1):
            raise InputError(f"keep_best_at must be in (0, 1] and w_first in [0, 1), got {self.keep_best_at}, "
                             f"{self.w_first}")
        for name in ("lr_rampup", "lr_rampdown", "noise_ramp"):
            if not 0 <= getattr(self, name) <= 1:
                raise InputError(f"{name} is a fraction of the steps in [0, 1], got {getattr(self, name)}")
        if self.starts > max(1, self.init_samples):
            raise InputError(f"{self.starts} starts need init_samples >= {self.starts}, got {self.init_samples}")

    @property
    def total_steps(self) -> int:
        """Optimizer steps and refinement iterations together (what progress counts)."""
        return self.steps + self.refine_steps

    @property
    def schedule(self) -> str:
        """The steps in words, e.g. ``'80 steps + 40 L-BFGS'``."""
        return f"{self.steps} steps" + (f" + {self.refine_steps} L-BFGS" if self.refine_steps else "")

    @classmethod
    def preset(cls, name: str, **overrides) -> "ProjectorConfig":
        """A named configuration: ``'official'`` (the paper's schedule, 1000 steps) or ``'fast'``
        (a better start and a shorter search, about 0.2x the time; its measured quality against
        the official preset is in ``docs/projection.md``); keyword arguments override fields (None
        keeps the preset's value)."""
        if name not in PRESETS:
            raise InputError(f"unknown projector preset {name!r}; use one of {tuple(PRESETS)}")
        return replace(cls(**PRESETS[name]), **{k: v for k, v in overrides.items() if v is not None})


# The preset used when none is named (the CLI, ``project``, the studio): it reaches the official
# preset's final quality on every benchmark image in under a fifth of the time (docs/projection.md).
DEFAULT_PRESET = "fast"

# Field values that differ from the official defaults, per preset.
PRESETS: dict[str, dict] = {
    "official": {},
    # The best 3 of 64 W samples optimized side by side for 16 steps, then the best one alone; W for
    # the first 30 % of the 80 Adam steps, W+ after; half the official learning rate and no latent
    # noise (the start is already in a good basin); then 40 L-BFGS iterations on the latents, which
    # converge where Adam crawls. See docs/projection.md for the measurements.
    "fast": {"steps": 80, "space": "w+", "w_first": 0.3, "initial_lr": 0.05, "initial_noise_factor": 0.0,
             "init_samples": 64, "starts": 3, "keep_best_at": 0.2, "refine_steps": 40},
}


@dataclass
class ProjectionStep:
    """Progress of one optimization step (per-image values are [N] tensors)."""

    step: int
    num_steps: int
    loss: torch.Tensor
    distance: torch.Tensor
    lr: float  # refinement iterations: the mean step length the line search accepted
    images: torch.Tensor  # the step's synthesized images (with latent noise), detached
    ws: torch.Tensor  # the current latents [N, num_ws, w_dim] (without latent noise), detached
    noise: list[torch.Tensor]  # the current noise maps, per layer [N, 1, H, W], detached


@dataclass
class ProjectionResult:
    ws: torch.Tensor  # [N, num_ws, w_dim]
    noise: list[torch.Tensor]  # per layer [N, 1, H, W]
    images: torch.Tensor  # final renders with ws and noise, NCHW in [-1, 1]
    distance: torch.Tensor  # [N] final perceptual distance (no latent noise)
    loss_name: str
    steps: int
    seconds: float
    device: str
    history: list[float] = field(default_factory=list)  # mean loss per step


@dataclass
class ProjectionState:
    """Where a projection stopped, complete enough to continue it exactly (``project(..., state=)``).

    Rows are the optimized latents, ``starts`` consecutive rows per image. ``moments`` are Adam's
    (exp_avg, exp_avg_sq) per optimized tensor in the order [latents, *noise maps] (noise maps only
    when optimized); ``rng`` the row's random-stream states; ``refine`` each row's L-BFGS memory
    once the refinement has begun (tensors with one entry per row, see ``_refine_memory``).
    """

    step: int  # the next step to run
    num_steps: int
    space: str  # space of the current latents: 'w' ([rows, 1, w_dim]) or 'w+' ([rows, num_ws, w_dim])
    starts: int
    w_opt: torch.Tensor
    noise: list[torch.Tensor]
    moments: list[tuple[torch.Tensor, torch.Tensor]]
    adam_step: float
    rng: list[torch.Tensor]
    loss: torch.Tensor  # [rows] the last step's loss (it picks each image's best start)
    refine: dict[str, torch.Tensor] = field(default_factory=dict)

    def image(self, i: int) -> "ProjectionState":
        """The state of image ``i`` alone."""
        rows = slice(i * self.starts, (i + 1) * self.starts)
        return replace(self, w_opt=self.w_opt[rows], noise=[m[rows] for m in self.noise],
                       moments=[(a[rows], b[rows]) for a, b in self.moments], rng=self.rng[rows], loss=self.loss[rows],
                       refine={k: v[rows] for k, v in self.refine.items()})

    @staticmethod
    def stack(states: list["ProjectionState"]) -> "ProjectionState":
        """Images' states side by side (they must have stopped at the same step of the same schedule)."""
        first = states[0]
        if any((s.step, s.num_steps, s.space, s.starts, sorted(s.refine)) !=
               (first.step, first.num_steps, first.space, first.starts, sorted(first.refine)) for s in states):
            raise InputError("these projections stopped at different points; resume them one at a time")
        return replace(first, w_opt=torch.cat([s.w_opt for s in states]),
                       noise=[torch.cat(maps) for maps in zip(*(s.noise for s in states))],
                       moments=[(torch.cat([m[k][0] for m in (s.moments for s in states)]),
                                 torch.cat([m[k][1] for m in (s.moments for s in states)]))
                                for k in range(len(first.moments))],
                       rng=[r for s in states for r in s.rng], loss=torch.cat([s.loss for s in states]),
                       refine={k: torch.cat([s.refine[k] for s in states]) for k in first.refine})


class ProjectionInterrupted(Exception):
    """Raised by ``project`` between two steps when ``should_stop()`` turned true; carries the state."""

    def __init__(self, state: ProjectionState):
        super().__init__(f"projection stopped before step {state.step} of {state.num_steps}")
        self.state = state


def learning_rate(t: float, cfg: ProjectorConfig) -> float:
    """Learning rate at progress ``t`` in [0, 1): linear ramp-up, cosine ramp-down (a ramp of 0: none)."""
    ramp = min(1.0, (1.0 - t) / cfg.lr_rampdown) if cfg.lr_rampdown else 1.0
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    ramp = ramp * min(1.0, t / cfg.lr_rampup) if cfg.lr_rampup else ramp
    return cfg.initial_lr * ramp


def w_noise_scale(t: float, w_std: float, cfg: ProjectorConfig) -> float:
    """Std of the Gaussian noise added to the latent at progress ``t`` (a ramp of 0: no noise)."""
    if not cfg.noise_ramp:
        return 0.0
    return w_std * cfg.initial_noise_factor * max(0.0, 1.0 - t / cfg.noise_ramp) ** 2


def _loss_input(images: torch.Tensor, size: int) -> torch.Tensor:
    """Images for the perceptual distance: area-downsampled to ``size``, channels-last (the same
    distance; its convolutions run faster on CPU, benchmarks/profile_projector.py)."""
    if images.shape[-1] > size:
        images = F.interpolate(images, size=(size, size), mode="area")
    return images.contiguous(memory_format=torch.channels_last)


def _initial_latents(G, space, n, w_avg, init_ws):
    if init_ws is None:
        w = w_avg.expand(n, 1, -1) if space == "w" else w_avg.expand(n, G.num_ws, -1)
        return w.clone()
    init_ws = check_ws(init_ws, G, "initial latent").to(w_avg.device)
    if init_ws.shape[0] != n:
        raise InputError(f"initial latent holds {init_ws.shape[0]} latents for {n} images")
    if space == "w":
        return init_ws.mean(dim=1, keepdim=True).clone()
    return init_ws.clone()


def images_per_batch(G, gpu_batch: int) -> int:
    """How many images to run through ``G`` together: ``gpu_batch`` on a GPU; on a CPU no more, and
    at most 16 384 pixels (larger batches ran slower per image once their activations left the
    cache, up to 2x at 256 px: ``benchmarks/profile_projector.py --sample-batches``, and the
    projection step's throughput in ``docs/benchmarks.md``)."""
    if G.mapping.w_avg.device.type != "cpu":
        return gpu_batch
    return max(1, min(gpu_batch, 16384 // G.img_resolution**2))


def _best_samples(G, cfg, c, distances, n: int, chunk: int) -> torch.Tensor:
    """The ``cfg.starts`` best of the first ``cfg.init_samples`` W samples per image, [N * starts, 1, w_dim].

    The samples are the first z of the W-statistics stream (``RandomState(w_avg_seed)``), rendered
    once (per class label) with the network's constant noise, ``chunk`` at a time;
    ``distances(images, image_indices)`` ranks them against each image's target.
    """
    device = G.mapping.w_avg.device
    z = z_samples(cfg.init_samples, G.z_dim, cfg.w_avg_seed).to(device)
    groups: dict = {}  # class label -> image indices
    for i in range(n):
        groups.setdefault(None if c is None else tuple(c[i].tolist()), []).append(i)
    chosen = [None] * n
    with torch.no_grad():
        for indices in groups.values():
            ci = None if c is None else c[indices[0]:indices[0] + 1].expand(len(z), -1)
            w = G.mapping(z, ci)[:, :1]
            images = torch.cat([G.synthesis(part.expand(-1, G.num_ws, -1), noise_mode="const", fused_modconv=False)
                                for part in w.split(chunk)])
            for i, dist in zip(indices, distances(images, indices)):
                chosen[i] = w[dist.argsort()[:cfg.starts]]
    return torch.cat(chosen)


def _rebuild(optimizer: torch.optim.Adam, change: Callable[[torch.Tensor, int], torch.Tensor]
             ) -> tuple[list[torch.Tensor], torch.optim.Adam]:
    """New leaves ``change(p, i)`` for every optimized tensor ``p`` (i: its position over all
    parameter groups), and an Adam with the same groups whose moments went through the same
    change (rows kept, latents widened to W+)."""
    old = [p for group in optimizer.param_groups for p in group["params"]]
    params = [change(p.detach(), i).clone().requires_grad_(True) for i, p in enumerate(old)]
    groups, start = [], 0
    for group in optimizer.param_groups:
        count = len(group["params"])
        groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": params[start:start + count]})
        start += count
    new = torch.optim.Adam(groups)
    for i, (before, param) in enumerate(zip(old, params)):
        state = optimizer.state.get(before)
        if state:
            new.state[param] = {k: change(v, i).clone() if torch.is_tensor(v) and v.ndim else v for k, v in state.items()}
    return params, new


def _refine_memory(loss: torch.Tensor, grad: torch.Tensor, size: int) -> dict[str, torch.Tensor]:
    """Empty L-BFGS memory for rows at a point with ``loss`` [rows] and ``grad`` [rows, D]: ``size``
    curvature pairs (s, y) per row, oldest first, and rho = 1 / (s . y), 0 in an empty slot; the
    first step is the gradient scaled to unit L1 norm (torch.optim.LBFGS's choice)."""
    rows, dim = grad.shape
    return {"loss": loss, "grad": grad, "s": grad.new_zeros(rows, size, dim), "y": grad.new_zeros(rows, size, dim),
            "rho": grad.new_zeros(rows, size), "gamma": grad.abs().sum(1).clamp(min=1).reciprocal(),
            "active": torch.ones(rows, dtype=torch.bool, device=grad.device)}


def _lbfgs_direction(mem: dict[str, torch.Tensor]) -> torch.Tensor:
    """Each row's search direction -H g from its own memory (the two-loop recursion; empty slots,
    rho 0, change nothing); steepest descent where rounding made it point uphill."""
    s, y, rho, grad = mem["s"], mem["y"], mem["rho"], mem["grad"]
    q = grad.clone()
    alphas = []
    for k in reversed(range(s.shape[1])):
        alphas.append(rho[:, k] * (s[:, k] * q).sum(1))
        q -= alphas[-1][:, None] * y[:, k]
    q *= mem["gamma"][:, None]
    for k in range(s.shape[1]):
        beta = rho[:, k] * (y[:, k] * q).sum(1)
        q += (alphas[-1 - k] - beta)[:, None] * s[:, k]
    uphill = (q * grad).sum(1) <= 0
    return torch.where(uphill[:, None], -grad * mem["gamma"][:, None], -q)


def _lbfgs_step(evaluate, x: torch.Tensor, mem: dict[str, torch.Tensor], seen: list[torch.Tensor],
                max_halvings: int = 10) -> float:
    """One L-BFGS iteration of every active row of ``x`` [rows, D], in place: a backtracking line
    search from step 1 along the row's direction until the Armijo condition holds, each row on its
    own (rows still searching are evaluated together). A row whose search fails stays and stops.

    ``evaluate(points, rows)`` returns (loss [r], grad [r, D], *outputs); ``seen`` holds each row's
    latest outputs and is updated where a row moves. Returns the mean accepted step length.
    """
    direction = _lbfgs_direction(mem)
    slope = (direction * mem["grad"]).sum(1)
    length = torch.ones_like(slope)
    searching = mem["active"].clone()
    accepted = []
    for _ in range(max_halvings):
        rows = searching.nonzero().squeeze(1)
        if not len(rows):
            break
        points = x[rows] + length[rows, None] * direction[rows]
        loss, grad, *outputs = evaluate(points, rows)
        ok = loss <= mem["loss"][rows] + 1e-4 * length[rows] * slope[rows]
        moved = rows[ok]
        s, y = points[ok] - x[moved], grad[ok] - mem["grad"][moved]
        sy = (s * y).sum(1)
        curved = sy > 1e-10  # a pair that keeps H positive definite; others leave the memory as it is
        update = moved[curved]
        mem["s"][update] = torch.cat([mem["s"][update, 1:], s[curved, None]], dim=1)
        mem["y"][update] = torch.cat([mem["y"][update, 1:], y[curved, None]], dim=1)
        mem["rho"][update] = torch.cat([mem["rho"][update, 1:], sy[curved, None].reciprocal()], dim=1)
        mem["gamma"][update] = sy[curved] / y[curved].square().sum(1)
        x[moved], mem["loss"][moved], mem["grad"][moved] = points[ok], loss[ok], grad[ok]
        for buffer, value in zip(seen, outputs):
            buffer[moved] = value[ok]
        accepted += length[moved].tolist()
        searching[moved] = False
        length[rows[~ok]] *= 0.5
    mem["active"] &= ~searching
    return float(np.mean(accepted)) if accepted else 0.0


def _state(step, num_steps, space, starts, w_opt, noise, optimizer, gens, loss, refine=None) -> ProjectionState:
    params = optimizer.param_groups[0]["params"]
    moments = [(optimizer.state[p]["exp_avg"].detach().clone(), optimizer.state[p]["exp_avg_sq"].detach().clone())
               for p in params]
    adam_step = float(optimizer.state[params[0]]["step"])
    return ProjectionState(step=step, num_steps=num_steps, space=space, starts=starts, w_opt=w_opt.detach().clone(),
                           noise=[m.detach().clone() for m in noise], moments=moments, adam_step=adam_step,
                           rng=[g.get_state() for g in gens], loss=loss.detach().cpu(),
                           refine={k: v.detach().clone() for k, v in (refine or {}).items()})


def project(G, target: torch.Tensor, cfg: ProjectorConfig | None = None, *, c: torch.Tensor | None = None,
            distance=None, init_ws: torch.Tensor | None = None, init_noise: list[torch.Tensor] | None = None,
            seeds: list[int] | None = None, callback: Callable[[ProjectionStep], None] | None = None,
            should_stop: Callable[[], bool] | None = None, state: ProjectionState | None = None
            ) -> ProjectionResult:
    """Find ws (and noise maps) that make ``G`` draw ``target``.

    Args:
        G: generator (its parameters are not changed).
        target: [N, C, R, R] images in [-1, 1] at the generator's resolution.
        cfg: projection settings; default ``ProjectorConfig.preset(DEFAULT_PRESET)``.
        c: class labels [N, c_dim] or [1, c_dim] for conditional networks.
        distance: perceptual distance (``projector.losses``); default ``make_perceptual('auto')``.
        init_ws: optional starting latents [N, num_ws, w_dim] (e.g. to refine a projection);
            overrides ``cfg.init_samples``.
        init_noise: optional starting noise maps (per layer [N, 1, H, W]).
        seeds: per-image random seeds; default ``cfg.seed + i`` for image i.
        callback: called after every step with a ``ProjectionStep`` (with ``cfg.starts > 1``,
            each image's currently best start).
        should_stop: checked after every step; when it returns True, ``ProjectionInterrupted`` is
            raised carrying a ``ProjectionState`` (the step is finished first, so the state is whole).
        state: continue a projection from its ``ProjectionState`` (same ``G``, targets, ``cfg`` and
            seeds): the result equals the uninterrupted run's.
    """
    start = time.perf_counter()
    cfg = ProjectorConfig.preset(DEFAULT_PRESET) if cfg is None else cfg
    device = G.mapping.w_avg.device
    R = G.img_resolution
    if target.ndim != 4 or target.shape[1:] != (G.img_channels, R, R):
        raise InputError(f"target must be [N, {G.img_channels}, {R}, {R}], got {list(target.shape)}")
    n = target.shape[0]
    seeds = [cfg.seed + i for i in range(n)] if seeds is None else list(seeds)
    starts = cfg.starts if init_ws is None else 1
    if state is not None:
        if state.num_steps != cfg.total_steps or state.w_opt.shape[0] != n * state.starts:
            raise InputError(f"the saved state is for {state.w_opt.shape[0] // state.starts} image(s) and "
                             f"{state.num_steps} steps, not {n} and {cfg.total_steps}")
        starts = state.starts
    # One random stream per optimized row (image i, start j); start 0 keeps the image's own seed.
    gens = [torch.Generator().manual_seed(int(s) + j * (1 << 32)) for s in seeds for j in range(starts)]
    if distance is None:
        distance, _ = make_perceptual("auto", device=device)
    target = target.to(device, torch.float32)
    if c is not None and c.numel():
        c = c.to(device).reshape(-1, G.c_dim)
        if c.shape[0] == 1 and n > 1:
            c = c.repeat(n, 1)
    elif G.c_dim:
        raise InputError(f"this network is conditional ({G.c_dim} classes): pass a class label")

    # W statistics (per class for conditional networks).
    if G.c_dim:
        stats = [w_statistics(G, cfg.w_avg_samples, cfg.w_avg_seed, c=c[i:i + 1]) for i in range(n)]
        w_avg = torch.cat([s[0] for s in stats]).to(device)
        w_std = float(np.mean([s[1] for s in stats]))
    else:
        w_avg, w_std = w_statistics(G, cfg.w_avg_samples, cfg.w_avg_seed)
        w_avg = w_avg.to(device).expand(n, -1, -1)

    loss_res = cfg.max_loss_resolution
    target_small = _loss_input(target, loss_res)
    cached = hasattr(distance, "embed") and hasattr(distance, "distance")
    with torch.no_grad():
        target_features = distance.embed(target_small) if cached else None

    def own_targets(rows: int) -> torch.Tensor:
        """The target of each of ``rows`` optimized rows (``rows // n`` consecutive rows per image)."""
        return torch.arange(n, device=device).repeat_interleave(rows // n)

    def perceptual(images, targets=None):
        """Distance of each image to its target: ``targets[i]`` (default: ``own_targets``)."""
        images = _loss_input(images, loss_res)
        if targets is None:
            targets = own_targets(images.shape[0])
        if cached:
            return distance.distance(distance.embed(images), [f[targets] for f in target_features])
        return distance(images, target_small[targets])

    def image_loss(synth, targets=None):
        """(loss, perceptual distance) of each image: the distance plus the optional pixel MSE term,
        against ``targets[i]`` (default: ``own_targets``)."""
        if targets is None:
            targets = own_targets(synth.shape[0])
        dist = perceptual(synth, targets)
        if not cfg.mse_weight:
            return dist, dist
        return dist + cfg.mse_weight * (synth - target[targets]).square().mean(dim=(1, 2, 3)), dist

    chunk = images_per_batch(G, 16)

    def candidate_distances(images, indices):
        """[len(indices), K]: every candidate image against every listed target (features computed once)."""
        images = _loss_input(images, loss_res)
        if cached:
            feats = [torch.cat(parts) for parts in zip(*(distance.embed(x) for x in images.split(chunk)))]
            return torch.stack([distance.distance(feats, [f[i:i + 1].expand_as(g) for f, g in zip(target_features, feats)])
                                for i in indices])
        return torch.stack([torch.cat([distance(x, target_small[i:i + 1].expand_as(x)) for x in images.split(chunk)])
                            for i in indices])

    space = "w" if cfg.space == "w" or (cfg.w_first > 0 and init_ws is None) else "w+"  # of the first steps
    if state is not None:
        space, w_opt = state.space, state.w_opt.to(device, torch.float32).clone()
    elif init_ws is None and cfg.init_samples:
        w_start = _best_samples(G, cfg, c, candidate_distances, n, chunk)
        w_opt = (w_start if space == "w" else w_start.expand(-1, G.num_ws, -1)).clone()
    else:
        w_opt = _initial_latents(G, space, n, w_avg, init_ws)
    w_opt.requires_grad_(True)
    rows = n * starts
    shapes = G.synthesis.noise_shapes()
    if state is not None:
        noise = [m.to(device, torch.float32).clone() for m in state.noise]
        for g, rng_state in zip(gens, state.rng):
            g.set_state(rng_state)
    elif init_noise is not None:
        noise = [m.detach().to(device, torch.float32).expand(n, -1, -1, -1).repeat_interleave(starts, dim=0)
                 for m in init_noise]
    elif cfg.optimize_noise:
        noise = [torch.cat([torch.randn([1, 1, h, w], generator=g) for g in gens]).to(device) for h, w in shapes]
    else:
        noise = [m.to(device).expand(rows, -1, -1, -1).clone() for m in G.synthesis.const_noise()]
    params = [w_opt]
    if cfg.optimize_noise:
        for m in noise:
            m.requires_grad_(True)
        params += noise
    optimizer = torch.optim.Adam(params, betas=(0.9, 0.999), lr=cfg.initial_lr)
    if state is not None and state.adam_step:
        for param, (exp_avg, exp_avg_sq) in zip(params, state.moments):
            optimizer.state[param] = {"step": torch.tensor(float(state.adam_step)),
                                      "exp_avg": exp_avg.to(device, torch.float32).clone(),
                                      "exp_avg_sq": exp_avg_sq.to(device, torch.float32).clone()}
    def best_rows(values):
        """Index of each image's best start (lowest ``values``), as rows of the optimized batch."""
        if starts == 1:
            return None
        return values.reshape(n, starts).argmin(dim=1) + torch.arange(n, device=values.device) * starts

    def pick(x, index):
        return x if index is None else x[index]

    # The non-fused modulated convolution for every batch size: one arithmetic path whatever the
    # batch, and faster than the grouped convolution on CPU (benchmarks/profile_projector.py).
    history = []
    keep_step = max(1, round(cfg.keep_best_at * cfg.steps)) if starts > 1 else None  # after one step at least
    wplus_step = round(cfg.w_first * cfg.steps) if space != cfg.space else None
    loss = state.loss.to(device) if state is not None else None
    for step in range(state.step if state is not None else 0, cfg.steps):
        if step == keep_step:  # only each image's best start goes on, with its optimizer state
            index = best_rows(loss)
            kept, optimizer = _rebuild(optimizer, lambda x, i, index=index: x[index])
            w_opt, noise = kept[0], (kept[1:] if cfg.optimize_noise else [m[index] for m in noise])
            gens = [gens[i] for i in index.tolist()]
            starts = 1
        if step == wplus_step:  # the W latent becomes one latent per layer, moments included
            kept, optimizer = _rebuild(optimizer, lambda x, i: x.expand(-1, G.num_ws, -1) if i == 0 else x)
            w_opt, noise = kept[0], (kept[1:] if cfg.optimize_noise else noise)
            space = "w+"
        t = step / cfg.steps
        lr = learning_rate(t, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        scale = w_noise_scale(t, w_std, cfg)
        w_noise = torch.cat([torch.randn([1, *w_opt.shape[1:]], generator=g) for g in gens]).to(device) * scale
        ws = (w_opt + w_noise).expand(-1, G.num_ws, -1) if space == "w" else w_opt + w_noise
        synth = G.synthesis(ws, noise=noise, fused_modconv=False)
        loss, dist = image_loss(synth)
        if cfg.optimize_noise:
            loss = loss + cfg.noise_reg_weight * noise_regularizer(noise)
        optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()
        optimizer.step()
        if cfg.optimize_noise:
            with torch.no_grad():
                for m in noise:
                    m -= m.mean(dim=(1, 2, 3), keepdim=True)
                    m *= m.square().mean(dim=(1, 2, 3), keepdim=True).rsqrt()
        loss = loss.detach()
        history.append(float(loss.mean()))
        if callback is not None:
            index = best_rows(loss)
            current = w_opt.detach().expand(-1, G.num_ws, -1)
            callback(ProjectionStep(step=step, num_steps=cfg.total_steps, loss=pick(loss, index),
                                    distance=pick(dist.detach(), index), lr=lr, images=pick(synth.detach(), index),
                                    ws=pick(current, index), noise=[pick(m.detach(), index) for m in noise]))
        if should_stop is not None and step + 1 < cfg.total_steps and should_stop():
            raise ProjectionInterrupted(_state(step + 1, cfg.total_steps, space, starts, w_opt, noise, optimizer, gens,
                                                   loss))

    first_refine = max(cfg.steps, state.step if state is not None else 0)
    if first_refine < cfg.total_steps:
        # L-BFGS on the latents, noise maps fixed: the last digits of convergence that Adam reaches slowly.
        latent_shape, noise = w_opt.shape[1:], [m.detach() for m in noise]
        target_of = own_targets(w_opt.shape[0])

        def evaluate(points, rows):
            points = points.detach().requires_grad_(True)
            synth = G.synthesis(points.view(-1, *latent_shape).expand(-1, G.num_ws, -1),
                                noise=[m[rows] for m in noise], fused_modconv=False)
            loss, dist = image_loss(synth, target_of[rows])
            (grad,) = torch.autograd.grad(loss.sum(), points)
            return loss.detach(), grad, synth.detach(), dist.detach()

        x = w_opt.detach().reshape(w_opt.shape[0], -1).clone()
        loss, grad, *seen = evaluate(x, torch.arange(x.shape[0], device=device))  # seen: what callbacks show
        if state is not None and state.refine:
            mem = {k: v.to(device).clone() for k, v in state.refine.items()}
        else:
            mem = _refine_memory(loss, grad, cfg.refine_memory)
        for step in range(first_refine, cfg.total_steps):
            length = _lbfgs_step(evaluate, x, mem, seen)
            w_opt = x.view(-1, *latent_shape)
            history.append(float(mem["loss"].mean()))
            if callback is not None:
                index = best_rows(mem["loss"])
                callback(ProjectionStep(step=step, num_steps=cfg.total_steps, loss=pick(mem["loss"].clone(), index),
                                        distance=pick(seen[1].clone(), index), lr=length,
                                        images=pick(seen[0].clone(), index),
                                        ws=pick(w_opt.expand(-1, G.num_ws, -1).clone(), index), noise=[pick(m, index) for m in noise]))
            if should_stop is not None and step + 1 < cfg.total_steps and should_stop():
                raise ProjectionInterrupted(_state(step + 1, cfg.total_steps, space, starts, w_opt, noise, optimizer,
                                                   gens, mem["loss"], refine=mem))

    with torch.no_grad():
        ws = w_opt.detach().expand(-1, G.num_ws, -1).clone()
        noise = [m.detach().clone() for m in noise]
        images = G.synthesis(ws, noise=noise, fused_modconv=False)
        final = perceptual(images)
        index = best_rows(final)
        ws, images, final = pick(ws, index), pick(images, index), pick(final, index)
        noise = [pick(m, index) for m in noise]
    return ProjectionResult(ws=ws, noise=noise, images=images, distance=final, loss_name=getattr(distance, "name", "custom"),
                            steps=cfg.total_steps, seconds=time.perf_counter() - start, device=str(device), history=history)
