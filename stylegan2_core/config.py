"""Typed generator configuration; serialised as JSON next to the weights.

Invalid values raise ``InputError``; the checkpoint readers turn that into a ``CheckpointError`` naming the file.
"""

import dataclasses
from dataclasses import dataclass, field

from .errors import InputError

__all__ = ["MappingConfig", "SynthesisConfig", "GeneratorConfig"]

ARCHITECTURES = ("orig", "skip", "resnet")


def _from_dict(cls, data: dict, where: str):
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InputError(f"{where}: unknown config keys {unknown}; expected a subset of {sorted(names)}")
    return cls(**data)


@dataclass(frozen=True)
class MappingConfig:
    """Mapping network z (+ class) -> w."""

    num_layers: int = 8
    embed_features: int | None = None  # class embedding width; None = w_dim
    layer_features: int | None = None  # hidden width; None = w_dim
    activation: str = "lrelu"
    lr_multiplier: float = 0.01
    w_avg_beta: float | None = 0.995


@dataclass(frozen=True)
class SynthesisConfig:
    """Synthesis network ws -> image. Channels at resolution r: min(channel_base // r, channel_max)."""

    channel_base: int = 32768
    channel_max: int = 512
    num_fp16_res: int = 0
    conv_clamp: float | None = None
    architecture: str = "skip"
    resample_filter: tuple[int, ...] = (1, 3, 3, 1)
    use_noise: bool = True
    activation: str = "lrelu"

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise InputError(f"synthesis architecture must be one of {ARCHITECTURES}, got {self.architecture!r}")
        object.__setattr__(self, "resample_filter", tuple(self.resample_filter))

    def channels(self, resolution: int) -> int:
        return min(self.channel_base // resolution, self.channel_max)


@dataclass(frozen=True)
class GeneratorConfig:
    z_dim: int = 512
    c_dim: int = 0
    w_dim: int = 512
    img_resolution: int = 1024
    img_channels: int = 3
    mapping: MappingConfig = field(default_factory=MappingConfig)
    synthesis: SynthesisConfig = field(default_factory=SynthesisConfig)

    def __post_init__(self):
        r = self.img_resolution
        if r < 4 or r & (r - 1):
            raise InputError(f"img_resolution must be a power of two >= 4, got {r}")

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["synthesis"]["resample_filter"] = list(self.synthesis.resample_filter)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "GeneratorConfig":
        data = dict(data)
        mapping = _from_dict(MappingConfig, data.pop("mapping", {}) or {}, "mapping config")
        synthesis = _from_dict(SynthesisConfig, data.pop("synthesis", {}) or {}, "synthesis config")
        return _from_dict(cls, {**data, "mapping": mapping, "synthesis": synthesis}, "generator config")
