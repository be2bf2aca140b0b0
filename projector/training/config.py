"""Typed training configuration, stored in every training checkpoint.

Defaults are the StyleGAN2 paper's (config F): Adam lr 0.002, betas (0, 0.99), lazy R1
every 16 minibatches, lazy path-length regularization every 4 with weight 2, decay 0.01
and half the batch, style mixing with probability 0.9, G_ema half-life 10 kimg.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from stylegan2_core.config import GeneratorConfig, MappingConfig, SynthesisConfig
from stylegan2_core.discriminator import DiscriminatorConfig
from stylegan2_core.errors import InputError

__all__ = ["TrainConfig", "network_configs"]


def network_configs(resolution: int, z_dim: int = 512, w_dim: int = 512, mapping_layers: int = 8,
                    channel_base: int = 32768, channel_max: int = 512) -> tuple[GeneratorConfig, DiscriminatorConfig]:
    """Matching G and D configs for unconditional RGB training at ``resolution`` (paper defaults)."""
    G = GeneratorConfig(
        z_dim=z_dim, w_dim=w_dim, img_resolution=resolution,
        mapping=MappingConfig(num_layers=mapping_layers),
        synthesis=SynthesisConfig(channel_base=channel_base, channel_max=channel_max),
    )
    D = DiscriminatorConfig(img_resolution=resolution, channel_base=channel_base, channel_max=channel_max)
    return G, D


def _default_G() -> GeneratorConfig:
    return network_configs(64)[0]


def _default_D() -> DiscriminatorConfig:
    return network_configs(64)[1]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run; intervals are in kimg (thousands of real images shown)."""

    data: str = "world"  # image folder, .zip of images, or "world" (the procedural world, streamed)
    G: GeneratorConfig = field(default_factory=_default_G)
    D: DiscriminatorConfig = field(default_factory=_default_D)
    batch_size: int = 32  # global, over all processes
    kimg: float = 25000.0  # stop after this many real images (thousands)
    lr: float = 0.002
    betas: tuple[float, float] = (0.0, 0.99)
    eps: float = 1e-8
    r1_gamma: float = 10.0
    r1_interval: int = 16
    pl_weight: float = 2.0
    pl_interval: int = 4
    pl_decay: float = 0.01
    pl_batch_shrink: int = 2
    style_mixing_prob: float = 0.9
    ema_kimg: float = 10.0  # G_ema half-life
    ema_rampup: float | None = None  # limit the half-life to this fraction of the images seen so far
    xflip: bool = False
    world_start_seed: int = 0  # first world seed of the training stream
    seed: int = 0
    tick_kimg: float = 1.0  # how often the log line and the progress report are written
    snapshot_kimg: float = 50.0
    sample_kimg: float = 10.0
    metric_kimg: float = 0.0  # 0 = no metrics during training
    metric_num_images: int = 1000
    metric_ppl_samples: int = 1000
    grid_size: tuple[int, int] = (8, 4)  # sample grid columns x rows, seeds 0 .. cols*rows-1

    def __post_init__(self):
        object.__setattr__(self, "betas", tuple(self.betas))
        object.__setattr__(self, "grid_size", tuple(self.grid_size))
        problems = []
        if self.G.img_resolution != self.D.img_resolution:
            problems.append(f"G resolution {self.G.img_resolution} != D resolution {self.D.img_resolution}")
        if self.G.c_dim or self.D.c_dim:
            problems.append("conditional training is not supported (c_dim must be 0)")
        if self.G.img_channels != 3 or self.D.img_channels != 3:
            problems.append("only RGB training is supported (img_channels must be 3)")
        if self.batch_size < 1 or self.kimg <= 0:
            problems.append("batch_size and kimg must be positive")
        if self.r1_interval < 1 or self.pl_interval < 1 or self.pl_batch_shrink < 1:
            problems.append("r1_interval, pl_interval and pl_batch_shrink must be >= 1")
        if problems:
            raise InputError("bad training config: " + "; ".join(problems))

    @property
    def resolution(self) -> int:
        return self.G.img_resolution

    @property
    def total_nimg(self) -> int:
        return int(round(self.kimg * 1000))

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["G"] = self.G.to_dict()
        data["D"] = self.D.to_dict()
        data["betas"] = list(self.betas)
        data["grid_size"] = list(self.grid_size)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        data = dict(data)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InputError(f"training config: unknown keys {unknown}")
        if "G" in data:
            data["G"] = GeneratorConfig.from_dict(data["G"])
        if "D" in data:
            data["D"] = DiscriminatorConfig.from_dict(data["D"])
        return cls(**data)
