"""Projection settings: ``ProjectorConfig``, the named presets and the schedules (learning rate, latent noise)."""

import math
from dataclasses import dataclass, replace

from stylegan2_core import InputError

__all__ = ["DEFAULT_PRESET", "PRESETS", "SPACES", "ProjectorConfig", "learning_rate", "w_noise_scale"]

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
    encoder_only: bool = False  # the encoder's inversion alone, no optimization (preset 'instant')
    encoder_steps: int | None = None  # started from an encoder: these Adam steps (None: ``steps``)
    encoder_refine_steps: int | None = None  # started from an encoder: these L-BFGS iterations (None: ``refine_steps``)

    def __post_init__(self):
        if self.space not in SPACES:
            raise InputError(f"unknown latent space {self.space!r}; use one of {SPACES}")
        if self.steps < 1:
            raise InputError(f"steps must be >= 1, got {self.steps}")
        if self.encoder_only and self.space != "w+":
            raise InputError("the instant preset gives the encoder's W+ latents; it takes no --space")
        if (self.encoder_steps is not None and self.encoder_steps < 1) or (self.encoder_refine_steps or 0) < 0:
            raise InputError(f"encoder_steps must be >= 1 and encoder_refine_steps >= 0, got {self.encoder_steps} "
                             f"and {self.encoder_refine_steps}")
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
        """Optimizer steps and refinement iterations together (what progress counts; 0 for the encoder alone)."""
        return 0 if self.encoder_only else self.steps + self.refine_steps

    @property
    def schedule(self) -> str:
        """The steps in words, e.g. ``'80 steps + 40 L-BFGS'``."""
        steps = f"{self.steps} steps" + (f" + {self.refine_steps} L-BFGS" if self.refine_steps else "")
        return "encoder only" if self.encoder_only else steps

    def encoder_started(self) -> "ProjectorConfig":
        """The settings of a run that starts from an encoder's inversion: one start (no W-sample search) and
        the ``encoder_steps`` / ``encoder_refine_steps`` schedule where the preset names one."""
        if self.encoder_only:
            return self
        steps = self.steps if self.encoder_steps is None else self.encoder_steps
        refine = self.refine_steps if self.encoder_refine_steps is None else self.encoder_refine_steps
        return replace(self, init_samples=0, starts=1, keep_best_at=1.0, steps=steps, refine_steps=refine,
                       encoder_steps=None, encoder_refine_steps=None)

    @classmethod
    def preset(cls, name: str, **overrides) -> "ProjectorConfig":
        """A named configuration: ``'official'`` (the paper's schedule, 1000 steps), ``'fast'`` (a better
        start, a shorter search and an L-BFGS refinement; its speed and quality are measured in
        ``docs/projection.md``) or ``'instant'`` (an encoder's inversion alone: ``project(..., encoder=)``);
        keyword arguments override fields (None keeps the preset's value); a step count given applies to the
        encoder-started schedule too."""
        if name not in PRESETS:
            raise InputError(f"unknown projector preset {name!r}; use one of {tuple(PRESETS)}")
        fields = {k: v for k, v in overrides.items() if v is not None}
        for given, encoder_field in (("steps", "encoder_steps"), ("refine_steps", "encoder_refine_steps")):
            if given in fields:
                fields.setdefault(encoder_field, fields[given])
        return replace(cls(**PRESETS[name]), **fields)


# The preset used when none is named (the CLI, ``project``, the studio); docs/projection.md compares the two.
DEFAULT_PRESET = "fast"

# Field values that differ from the official defaults, per preset.
PRESETS: dict[str, dict] = {
    "official": {},
    # The best 3 of 64 W samples optimized side by side for 16 steps, then the best one alone; W for
    # the first 30 % of the 80 Adam steps, W+ after; half the official learning rate and no latent
    # noise (the start is already in a good basin); then 40 L-BFGS iterations on the latents, which
    # converge where Adam crawls. Its measurements: docs/projection.md.
    "fast": {"steps": 80, "space": "w+", "w_first": 0.3, "initial_lr": 0.05, "initial_noise_factor": 0.0,
             "init_samples": 64, "starts": 3, "keep_best_at": 0.2, "refine_steps": 40,
             # Started from an encoder's inversion (``project(..., encoder=)``) instead of the W-sample search,
             # half the steps: the start is already close (measured in docs/encoder.md).
             "encoder_steps": 40, "encoder_refine_steps": 20},
    # The encoder's inversion (with its refinement passes) and nothing else: no steps, the network's noise maps.
    "instant": {"encoder_only": True, "space": "w+", "optimize_noise": False},
}


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
