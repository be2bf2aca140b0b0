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
start, a shorter schedule and a per-image L-BFGS refinement of the latents at the end
(``projector.refine``); its speed and quality: ``docs/projection.md``. With a learned encoder
(``project(..., encoder=)``) the optimization starts from the encoder's inversion instead, and
``ProjectorConfig.preset('instant')`` returns that inversion without optimizing.

The settings and presets live in ``projector.config``. ``project`` runs as phases: check the inputs,
build the objective (``projector.objective``), start the latents (the mean w, a given latent, an
encoder's inversion, the best W samples, or a saved state), the Adam steps, the refinement, the
result; every step ends in one progress report and one stop check.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np
import torch

from stylegan2_core import InputError, check_ws, w_statistics, z_samples

from .config import DEFAULT_PRESET, PRESETS, SPACES, ProjectorConfig, learning_rate, w_noise_scale
from .losses import make_perceptual, noise_regularizer
from .objective import ProjectionObjective
from .optim import rebuild_adam
from .refine import refine_latents

__all__ = ["DEFAULT_PRESET", "PRESETS", "ProjectorConfig", "ProjectionStep", "ProjectionResult", "ProjectionState",
           "ProjectionInterrupted", "check_state", "images_per_batch", "learning_rate", "w_noise_scale", "project"]

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
    once the refinement has begun (tensors with one entry per row, see ``projector.refine.new_memory``).
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


def images_per_batch(G, gpu_batch: int) -> int:
    """How many images to run through ``G`` together: ``gpu_batch`` on a GPU; on a CPU no more, and
    at most 16 384 pixels (larger batches ran slower per image once their activations left the
    cache, up to 2x at 256 px: ``benchmarks/profile_projector.py --sample-batches``, and the
    projection step's throughput in ``docs/benchmarks.md``)."""
    if G.mapping.w_avg.device.type != "cpu":
        return gpu_batch
    return max(1, min(gpu_batch, 16384 // G.img_resolution**2))


def check_state(state: ProjectionState, cfg: ProjectorConfig, n: int) -> None:
    """Refuse a ``ProjectionState`` that ``project`` cannot continue with ``cfg`` for ``n`` images: another
    schedule or image count, or edited values (a step outside the schedule, no starts, a negative Adam
    step, numbers that are not finite). Raises ``InputError`` naming the problem."""
    rows = state.w_opt.shape[0]
    if state.starts < 1 or rows % state.starts:
        raise InputError(f"the saved state has {state.starts} starts per image for {rows} latents")
    if state.num_steps != cfg.total_steps or rows != n * state.starts:
        raise InputError(f"the saved state is for {rows // state.starts} image(s) and {state.num_steps} steps, not "
                         f"{n} and {cfg.total_steps}")
    if not 0 < state.step < state.num_steps:
        raise InputError(f"the saved state stopped before step {state.step}, outside the {state.num_steps} steps")
    if state.space not in SPACES or len(state.rng) != rows:
        raise InputError(f"the saved state's space {state.space!r} or its {len(state.rng)} random streams do not fit")
    if not (math.isfinite(state.adam_step) and state.adam_step >= 0):
        raise InputError(f"the saved state's Adam step {state.adam_step} is not a count")
    shapes = [state.w_opt.shape, *(m.shape for m in state.noise)]
    if len(state.moments) > len(shapes) or any(a.shape != shapes[k] or b.shape != shapes[k]
                                               for k, (a, b) in enumerate(state.moments)):
        raise InputError("the saved state's Adam moments do not fit its latents and noise maps")
    tensors = [state.w_opt, *state.noise, *(m for pair in state.moments for m in pair), state.loss,
               *state.refine.values()]
    if not all(torch.isfinite(t).all() for t in tensors if t.is_floating_point()):
        raise InputError("the saved state contains NaN or inf")
    if any((second < 0).any() for _, second in state.moments):
        raise InputError("the saved state has negative Adam second moments")


@dataclass
class _Optimization:
    """A projection in progress: the optimized rows (``starts`` consecutive rows per image), their
    Adam, one random stream per row, the space of the latents and the last step's loss per row."""

    w_opt: torch.Tensor
    noise: list[torch.Tensor]
    optimizer: torch.optim.Adam
    gens: list[torch.Generator]
    starts: int
    space: str
    loss: torch.Tensor | None = None
    history: list[float] = field(default_factory=list)  # mean loss per step

    def best_rows(self, values: torch.Tensor) -> torch.Tensor | None:
        """Index of each image's best start (lowest ``values``), as rows of the optimized batch."""
        if self.starts == 1:
            return None
        n = values.shape[0] // self.starts
        return values.reshape(n, self.starts).argmin(dim=1) + torch.arange(n, device=values.device) * self.starts

    def keep_best_starts(self, optimize_noise: bool) -> None:
        """Only each image's best start goes on, with its optimizer state and random stream."""
        index = self.best_rows(self.loss)
        kept, self.optimizer = rebuild_adam(self.optimizer, lambda x, i: x[index])
        self.w_opt, self.noise = kept[0], (kept[1:] if optimize_noise else [m[index] for m in self.noise])
        self.gens = [self.gens[i] for i in index.tolist()]
        self.starts = 1

    def widen_to_wplus(self, num_ws: int, optimize_noise: bool) -> None:
        """The W latent becomes one latent per layer, Adam's moments included."""
        kept, self.optimizer = rebuild_adam(self.optimizer, lambda x, i: x.expand(-1, num_ws, -1) if i == 0 else x)
        self.w_opt, self.noise = kept[0], (kept[1:] if optimize_noise else self.noise)
        self.space = "w+"

    def snapshot(self, step: int, num_steps: int, refine: dict[str, torch.Tensor] | None = None) -> ProjectionState:
        """The ``ProjectionState`` that continues this run at ``step``."""
        params = self.optimizer.param_groups[0]["params"]
        moments = [(self.optimizer.state[p]["exp_avg"].detach().clone(),
                    self.optimizer.state[p]["exp_avg_sq"].detach().clone()) for p in params]
        return ProjectionState(step=step, num_steps=num_steps, space=self.space, starts=self.starts,
                               w_opt=self.w_opt.detach().clone(), noise=[m.detach().clone() for m in self.noise],
                               moments=moments, adam_step=float(self.optimizer.state[params[0]]["step"]),
                               rng=[g.get_state() for g in self.gens], loss=self.loss.detach().cpu(),
                               refine={k: v.detach().clone() for k, v in (refine or {}).items()})


def _pick(x: torch.Tensor, index: torch.Tensor | None) -> torch.Tensor:
    return x if index is None else x[index]


def _class_labels(G, c: torch.Tensor | None, n: int, device) -> torch.Tensor | None:
    """One class label per image (a single label is shared), or None for an unconditional network."""
    if c is not None and c.numel():
        c = c.to(device).reshape(-1, G.c_dim)
        return c.repeat(n, 1) if c.shape[0] == 1 and n > 1 else c
    if G.c_dim:
        raise InputError(f"this network is conditional ({G.c_dim} classes): pass a class label")
    return c


def _w_statistics(G, cfg: ProjectorConfig, c: torch.Tensor | None, n: int) -> tuple[torch.Tensor, float]:
    """Each image's mean w [N, 1, w_dim] and the W std (per class for conditional networks)."""
    device = G.mapping.w_avg.device
    if G.c_dim:
        stats = [w_statistics(G, cfg.w_avg_samples, cfg.w_avg_seed, c=c[i:i + 1]) for i in range(n)]
        return torch.cat([s[0] for s in stats]).to(device), float(np.mean([s[1] for s in stats]))
    w_avg, w_std = w_statistics(G, cfg.w_avg_samples, cfg.w_avg_seed)
    return w_avg.to(device).expand(n, -1, -1), w_std


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


def _best_samples(G, cfg, c, objective: ProjectionObjective, n: int) -> torch.Tensor:
    """The ``cfg.starts`` best of the first ``cfg.init_samples`` W samples per image, [N * starts, 1, w_dim].

    The samples are the first z of the W-statistics stream (``RandomState(w_avg_seed)``), rendered
    once (per class label) with the network's constant noise, ``objective.render_batch`` at a time,
    and ranked against each image's target.
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
                                for part in w.split(objective.render_batch)])
            for i, dist in zip(indices, objective.candidate_distances(images, indices)):
                chosen[i] = w[dist.argsort()[:cfg.starts]]
    return torch.cat(chosen)


def _start_latents(G, cfg, objective, c, w_avg, init_ws, state, space: str) -> torch.Tensor:
    """The first optimized latents: the saved state's, the best W samples, a given latent (or an encoder's
    inversion) or the mean w."""
    n = objective.target.shape[0]
    if state is not None:
        return state.w_opt.to(w_avg.device, torch.float32).clone()
    if init_ws is None and cfg.init_samples:
        w_start = _best_samples(G, cfg, c, objective, n)
        return (w_start if space == "w" else w_start.expand(-1, G.num_ws, -1)).clone()
    return _initial_latents(G, space, n, w_avg, init_ws)


def _start_noise(G, cfg, gens, init_noise, state, starts: int) -> list[torch.Tensor]:
    """The first noise maps, per layer [rows, 1, H, W]: the saved state's, given maps, random or the network's."""
    device, rows = G.mapping.w_avg.device, len(gens)
    if state is not None:
        return [m.to(device, torch.float32).clone() for m in state.noise]
    if init_noise is not None:
        n = rows // starts
        return [m.detach().to(device, torch.float32).expand(n, -1, -1, -1).repeat_interleave(starts, dim=0)
                for m in init_noise]
    if cfg.optimize_noise:
        return [torch.cat([torch.randn([1, 1, h, w], generator=g) for g in gens]).to(device)
                for h, w in G.synthesis.noise_shapes()]
    return [m.to(device).expand(rows, -1, -1, -1).clone() for m in G.synthesis.const_noise()]


def _start(G, cfg, objective, c, w_avg, seeds, init_ws, init_noise, state, encoder_ws=None) -> _Optimization:
    """The optimization's starting point: latents, noise maps, Adam (its moments from a saved state) and
    one random stream per row (image i, start j; start 0 keeps the image's own seed). ``encoder_ws`` (an
    encoder's inversion), unlike ``init_ws``, keeps the W-space first phase: it starts at their layers' mean."""
    starts = state.starts if state is not None else (cfg.starts if init_ws is None else 1)
    gens = [torch.Generator().manual_seed(int(s) + j * (1 << 32)) for s in seeds for j in range(starts)]
    space = "w" if cfg.space == "w" or (cfg.w_first > 0 and init_ws is None) else "w+"  # of the first steps
    if state is not None:
        space = state.space
    given = init_ws if init_ws is not None else encoder_ws
    w_opt = _start_latents(G, cfg, objective, c, w_avg, given, state, space).requires_grad_(True)
    noise = _start_noise(G, cfg, gens, init_noise, state, starts)
    if state is not None:
        try:
            for g, rng_state in zip(gens, state.rng):
                g.set_state(rng_state)
        except (RuntimeError, TypeError) as err:
            raise InputError(f"the saved state's random streams are unusable ({err})") from None
    params = [w_opt] + ([m.requires_grad_(True) for m in noise] if cfg.optimize_noise else [])
    optimizer = torch.optim.Adam(params, betas=(0.9, 0.999), lr=cfg.initial_lr)
    if state is not None and state.adam_step:
        device = w_opt.device
        for param, (exp_avg, exp_avg_sq) in zip(params, state.moments):
            optimizer.state[param] = {"step": torch.tensor(float(state.adam_step)),
                                      "exp_avg": exp_avg.to(device, torch.float32).clone(),
                                      "exp_avg_sq": exp_avg_sq.to(device, torch.float32).clone()}
    return _Optimization(w_opt, noise, optimizer, gens, starts, space,
                         loss=state.loss.to(w_opt.device) if state is not None else None)


def _after_step(G, cfg: ProjectorConfig, callback, should_stop, step: int, run: _Optimization, loss, dist, lr: float,
                images, refine: dict[str, torch.Tensor] | None = None) -> None:
    """The end of every step: the progress report (each image's best start) and the stop check."""
    if callback is not None:
        index = run.best_rows(loss)
        callback(ProjectionStep(step=step, num_steps=cfg.total_steps, loss=_pick(loss, index).clone(),
                                distance=_pick(dist, index).clone(), lr=lr, images=_pick(images, index).clone(),
                                ws=_pick(run.w_opt.detach().expand(-1, G.num_ws, -1), index).clone(),
                                noise=[_pick(m.detach(), index).clone() for m in run.noise]))
    if should_stop is not None and step + 1 < cfg.total_steps and should_stop():
        raise ProjectionInterrupted(run.snapshot(step + 1, cfg.total_steps, refine))


def _adam_step(G, cfg: ProjectorConfig, objective: ProjectionObjective, run: _Optimization, step: int,
               w_std: float) -> tuple[float, torch.Tensor, torch.Tensor]:
    """One Adam step of every row; the noise maps are renormalized after it. Returns (lr, images, distance)."""
    t = step / cfg.steps
    lr = learning_rate(t, cfg)
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    scale = w_noise_scale(t, w_std, cfg)
    w_noise = torch.cat([torch.randn([1, *run.w_opt.shape[1:]], generator=g) for g in run.gens]).to(run.w_opt.device)
    w_noise = w_noise * scale
    ws = (run.w_opt + w_noise).expand(-1, G.num_ws, -1) if run.space == "w" else run.w_opt + w_noise
    # The non-fused modulated convolution for every batch size: one arithmetic path whatever the batch, and
    # faster than the grouped convolution on CPU (benchmarks/profile_projector.py).
    synth = G.synthesis(ws, noise=run.noise, fused_modconv=False)
    loss, dist = objective.image_loss(synth)
    if cfg.optimize_noise:
        loss = loss + cfg.noise_reg_weight * noise_regularizer(run.noise)
    run.optimizer.zero_grad(set_to_none=True)
    loss.sum().backward()
    run.optimizer.step()
    if cfg.optimize_noise:
        with torch.no_grad():
            for m in run.noise:
                m -= m.mean(dim=(1, 2, 3), keepdim=True)
                m *= m.square().mean(dim=(1, 2, 3), keepdim=True).rsqrt()
    run.loss = loss.detach()
    run.history.append(float(run.loss.mean()))
    return lr, synth.detach(), dist.detach()


def _adam_phase(G, cfg: ProjectorConfig, objective: ProjectionObjective, run: _Optimization, w_std: float,
                first_step: int, after_step: Callable) -> None:
    """The Adam steps from ``first_step``: the starts pruned to each image's best at ``cfg.keep_best_at``,
    W widened to W+ at ``cfg.w_first``, then the official schedule."""
    keep_step = max(1, round(cfg.keep_best_at * cfg.steps)) if run.starts > 1 else None  # after one step at least
    wplus_step = round(cfg.w_first * cfg.steps) if run.space != cfg.space else None
    for step in range(first_step, cfg.steps):
        if step == keep_step:
            run.keep_best_starts(cfg.optimize_noise)
        if step == wplus_step:
            run.widen_to_wplus(G.num_ws, cfg.optimize_noise)
        lr, images, dist = _adam_step(G, cfg, objective, run, step, w_std)
        after_step(step, run, run.loss, dist, lr, images)


def _refine_phase(G, cfg: ProjectorConfig, objective: ProjectionObjective, run: _Optimization, first_step: int,
                  memory: dict[str, torch.Tensor] | None, after_step: Callable) -> None:
    """The L-BFGS iterations from ``first_step`` to ``cfg.total_steps`` on the latents, noise maps fixed
    (``projector.refine``); ``memory``: a saved state's curvature memory."""
    run.noise = [m.detach() for m in run.noise]
    target_of = objective.own_targets(run.w_opt.shape[0])

    def after_iteration(step, latents, mem, seen, length):
        run.w_opt, run.loss = latents, mem["loss"]
        run.history.append(float(mem["loss"].mean()))
        after_step(step, run, mem["loss"], seen[1], length, seen[0], refine=mem)

    run.w_opt = refine_latents(G, lambda images, rows: objective.image_loss(images, target_of[rows]), run.w_opt,
                               run.noise, range(first_step, cfg.total_steps), cfg.refine_memory, memory=memory,
                               after_iteration=after_iteration)


def _result(G, cfg: ProjectorConfig, objective: ProjectionObjective, run: _Optimization, seconds: float
            ) -> ProjectionResult:
    """Each image's best start rendered without latent noise, and its final distance."""
    with torch.no_grad():
        ws = run.w_opt.detach().expand(-1, G.num_ws, -1).clone()
        noise = [m.detach().clone() for m in run.noise]
        images = G.synthesis(ws, noise=noise, fused_modconv=False)
        final = objective.perceptual(images)
        index = run.best_rows(final)
    return ProjectionResult(ws=_pick(ws, index), noise=[_pick(m, index) for m in noise], images=_pick(images, index),
                            distance=_pick(final, index), loss_name=getattr(objective.distance, "name", "custom"),
                            steps=cfg.total_steps, seconds=seconds, device=str(ws.device), history=run.history)


def _shipped_encoder(G, cfg: ProjectorConfig, spec: str):
    """``project``'s ``encoder='auto'``: the network's shipped encoder where ``cfg`` would use one."""
    if spec != "auto":
        raise InputError(f"encoder must be an Encoder, None or 'auto', got {spec!r}")
    from .encoder.registry import projection_encoder

    return projection_encoder(None, G, cfg, device=G.mapping.w_avg.device)


def project(G, target: torch.Tensor, cfg: ProjectorConfig | None = None, *, c: torch.Tensor | None = None,
            distance=None, init_ws: torch.Tensor | None = None, init_noise: list[torch.Tensor] | None = None,
            seeds: list[int] | None = None, callback: Callable[[ProjectionStep], None] | None = None,
            should_stop: Callable[[], bool] | None = None, state: ProjectionState | None = None,
            encoder="auto") -> ProjectionResult:
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
            seeds): the result equals the uninterrupted run's (``check_state`` refuses one that does not fit).
        encoder: a ``projector.encoder.Encoder`` for ``G`` (``load_encoder``): the optimization starts from its
            inversion instead of the W-sample search, with ``cfg.encoder_started()``'s schedule (unless
            ``init_ws`` is given); with ``cfg.encoder_only`` (preset ``'instant'``) its inversion is the result.
            ``'auto'`` (default): the network's shipped encoder (``find_encoder``; the demo network has one) for
            the presets that search W samples for their start and for ``'instant'``; None: no encoder.
    """
    started = time.perf_counter()
    cfg = ProjectorConfig.preset(DEFAULT_PRESET) if cfg is None else cfg
    if not G.synthesis.noise_shapes():  # StyleGAN3 has no noise inputs: nothing to optimize or regularize
        cfg = replace(cfg, optimize_noise=False)
    device = G.mapping.w_avg.device
    R = G.img_resolution
    if target.ndim != 4 or target.shape[1:] != (G.img_channels, R, R):
        raise InputError(f"target must be [N, {G.img_channels}, {R}, {R}], got {list(target.shape)}")
    n = target.shape[0]
    seeds = [cfg.seed + i for i in range(n)] if seeds is None else list(seeds)
    if isinstance(encoder, str):
        encoder = _shipped_encoder(G, cfg, encoder) if init_ws is None or cfg.encoder_only else None
    if encoder is not None and init_ws is None:
        cfg = cfg.encoder_started()
    if state is not None:
        check_state(state, cfg, n)
    if distance is None:
        distance, _ = make_perceptual("auto", device=device)
    c = _class_labels(G, c, n, device)
    objective = ProjectionObjective(target.to(device, torch.float32), distance, cfg.max_loss_resolution,
                                    cfg.mse_weight, render_batch=images_per_batch(G, 16))
    if cfg.encoder_only:
        from .encoder.instant import instant_result

        return instant_result(G, encoder, objective, started)
    w_avg, w_std = _w_statistics(G, cfg, c, n)
    encoder_ws = encoder.invert(objective.target, G) if encoder is not None and init_ws is None and state is None \
        else None
    run = _start(G, cfg, objective, c, w_avg, seeds, init_ws, init_noise, state, encoder_ws)
    after_step = partial(_after_step, G, cfg, callback, should_stop)
    first_step = state.step if state is not None else 0
    _adam_phase(G, cfg, objective, run, w_std, first_step, after_step)
    if max(cfg.steps, first_step) < cfg.total_steps:
        _refine_phase(G, cfg, objective, run, max(cfg.steps, first_step), state.refine if state is not None else None,
                      after_step)
    return _result(G, cfg, objective, run, time.perf_counter() - started)
