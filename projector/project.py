"""Optimization-based projection (StyleGAN2 paper, appendix D), batched, with the official defaults.

Each image gets its own latent and noise maps and its own random stream, and the
loss is a sum of independent per-image terms, so projecting a batch gives the same
result as projecting the images one by one. Differences from the official script:
the optimized noise maps are returned (and used for the final image) instead of
being written into the generator's buffers; conditional networks work; any device.
"""

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from stylegan2_core import InputError, check_ws, w_statistics

from .losses import make_perceptual, noise_regularizer

__all__ = ["ProjectorConfig", "ProjectionStep", "ProjectionResult", "learning_rate", "w_noise_scale", "project"]

SPACES = ("w", "w+")


@dataclass(frozen=True)
class ProjectorConfig:
    """Projection settings; the defaults are the official projector's."""

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

    def __post_init__(self):
        if self.space not in SPACES:
            raise InputError(f"unknown latent space {self.space!r}; use one of {SPACES}")
        if self.steps < 1:
            raise InputError(f"steps must be >= 1, got {self.steps}")


@dataclass
class ProjectionStep:
    """Progress of one optimization step (per-image values are [N] tensors)."""

    step: int
    num_steps: int
    loss: torch.Tensor
    distance: torch.Tensor
    lr: float
    images: torch.Tensor  # the step's synthesized images (with latent noise), detached


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


def learning_rate(t: float, cfg: ProjectorConfig) -> float:
    """Learning rate at progress ``t`` in [0, 1): linear ramp-up, cosine ramp-down."""
    ramp = min(1.0, (1.0 - t) / cfg.lr_rampdown)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    ramp = ramp * min(1.0, t / cfg.lr_rampup)
    return cfg.initial_lr * ramp


def w_noise_scale(t: float, w_std: float, cfg: ProjectorConfig) -> float:
    """Std of the Gaussian noise added to the latent at progress ``t``."""
    return w_std * cfg.initial_noise_factor * max(0.0, 1.0 - t / cfg.noise_ramp) ** 2


def _downsample(images: torch.Tensor, size: int) -> torch.Tensor:
    if images.shape[-1] > size:
        return F.interpolate(images, size=(size, size), mode="area")
    return images


def _initial_latents(G, cfg, n, w_avg, init_ws):
    if init_ws is None:
        w = w_avg.expand(n, 1, -1) if cfg.space == "w" else w_avg.expand(n, G.num_ws, -1)
        return w.clone()
    init_ws = check_ws(init_ws, G, "initial latent").to(w_avg.device)
    if init_ws.shape[0] != n:
        raise InputError(f"initial latent holds {init_ws.shape[0]} latents for {n} images")
    if cfg.space == "w":
        return init_ws.mean(dim=1, keepdim=True).clone()
    return init_ws.clone()


def project(G, target: torch.Tensor, cfg: ProjectorConfig = ProjectorConfig(), *, c: torch.Tensor | None = None,
            distance=None, init_ws: torch.Tensor | None = None, init_noise: list[torch.Tensor] | None = None,
            seeds: list[int] | None = None, callback: Callable[[ProjectionStep], None] | None = None
            ) -> ProjectionResult:
    """Find ws (and noise maps) that make ``G`` draw ``target``.

    Args:
        G: generator (its parameters are not changed).
        target: [N, C, R, R] images in [-1, 1] at the generator's resolution.
        cfg: projection settings.
        c: class labels [N, c_dim] or [1, c_dim] for conditional networks.
        distance: perceptual distance (``projector.losses``); default ``make_perceptual('auto')``.
        init_ws: optional starting latents [N, num_ws, w_dim] (e.g. to refine a projection).
        init_noise: optional starting noise maps (per layer [N, 1, H, W]).
        seeds: per-image random seeds; default ``cfg.seed + i`` for image i.
        callback: called after every step with a ``ProjectionStep``.
    """
    device = G.mapping.w_avg.device
    R = G.img_resolution
    if target.ndim != 4 or target.shape[1:] != (G.img_channels, R, R):
        raise InputError(f"target must be [N, {G.img_channels}, {R}, {R}], got {list(target.shape)}")
    n = target.shape[0]
    seeds = [cfg.seed + i for i in range(n)] if seeds is None else list(seeds)
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
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

    w_opt = _initial_latents(G, cfg, n, w_avg, init_ws).requires_grad_(True)
    shapes = G.synthesis.noise_shapes()
    if init_noise is not None:
        noise = [m.detach().to(device, torch.float32).expand(n, -1, -1, -1).clone() for m in init_noise]
    elif cfg.optimize_noise:
        noise = [torch.cat([torch.randn([1, 1, h, w], generator=g) for g in gens]).to(device) for h, w in shapes]
    else:
        noise = [m.to(device).expand(n, -1, -1, -1).clone() for m in G.synthesis.const_noise()]
    params = [w_opt]
    if cfg.optimize_noise:
        for m in noise:
            m.requires_grad_(True)
        params += noise
    optimizer = torch.optim.Adam(params, betas=(0.9, 0.999), lr=cfg.initial_lr)

    loss_res = cfg.max_loss_resolution
    target_small = _downsample(target, loss_res)
    cached = hasattr(distance, "embed") and hasattr(distance, "distance")
    with torch.no_grad():
        target_features = distance.embed(target_small) if cached else None

    def perceptual(images):
        images = _downsample(images, loss_res)
        if cached:
            return distance.distance(distance.embed(images), target_features)
        return distance(images, target_small)

    # One grouped convolution per layer is fastest for a single image; for a batch, scaling the
    # activations beats a convolution with one group per image (same function either way).
    fused = n == 1
    history = []
    start = time.perf_counter()
    for step in range(cfg.steps):
        t = step / cfg.steps
        lr = learning_rate(t, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        scale = w_noise_scale(t, w_std, cfg)
        w_noise = torch.cat([torch.randn([1, *w_opt.shape[1:]], generator=g) for g in gens]).to(device) * scale
        ws = (w_opt + w_noise).expand(-1, G.num_ws, -1) if cfg.space == "w" else w_opt + w_noise
        synth = G.synthesis(ws, noise=noise, fused_modconv=fused)
        dist = perceptual(synth)
        loss = dist
        if cfg.optimize_noise:
            loss = loss + cfg.noise_reg_weight * noise_regularizer(noise)
        if cfg.mse_weight:
            loss = loss + cfg.mse_weight * (synth - target).square().mean(dim=(1, 2, 3))
        optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()
        optimizer.step()
        if cfg.optimize_noise:
            with torch.no_grad():
                for m in noise:
                    m -= m.mean(dim=(1, 2, 3), keepdim=True)
                    m *= m.square().mean(dim=(1, 2, 3), keepdim=True).rsqrt()
        history.append(float(loss.detach().mean()))
        if callback is not None:
            callback(ProjectionStep(step=step, num_steps=cfg.steps, loss=loss.detach(), distance=dist.detach(),
                                    lr=lr, images=synth.detach()))

    with torch.no_grad():
        ws = w_opt.detach().expand(-1, G.num_ws, -1).clone() if cfg.space == "w" else w_opt.detach().clone()
        noise = [m.detach().clone() for m in noise]
        images = G.synthesis(ws, noise=noise)
        final = perceptual(images)
    return ProjectionResult(ws=ws, noise=noise, images=images, distance=final, loss_name=getattr(distance, "name", "custom"),
                            steps=cfg.steps, seconds=time.perf_counter() - start, device=str(device), history=history)

