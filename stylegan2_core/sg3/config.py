"""Typed StyleGAN3 generator configuration (configs T and R); serialised as JSON next to the weights.

``architecture`` is always ``"stylegan3"``: it is how a native file says it holds a StyleGAN3 generator
(StyleGAN2 configs have no such key).
"""

import dataclasses
from dataclasses import dataclass, field

from ..config import MappingConfig, _from_dict
from ..errors import InputError

__all__ = ["ARCHITECTURE", "StyleGAN3SynthesisConfig", "StyleGAN3Config"]

ARCHITECTURE = "stylegan3"


def _sg3_mapping() -> MappingConfig:
    return MappingConfig(num_layers=2, w_avg_beta=0.998)


@dataclass(frozen=True)
class StyleGAN3SynthesisConfig:
    """Synthesis network ws -> image, with the official constructor's defaults (config T).

    Config R is ``conv_kernel=1, use_radial_filters=True`` (and, in the official training setup, doubled
    ``channel_base`` and ``channel_max``).
    """

    channel_base: int = 32768
    channel_max: int = 512
    num_layers: int = 14  # excluding the Fourier-feature input and ToRGB
    num_critical: int = 2  # critically sampled layers at the end
    first_cutoff: float = 2.0
    first_stopband: float = 2**2.1
    last_stopband_rel: float = 2**0.3
    margin_size: int = 10
    output_scale: float = 0.25
    num_fp16_res: int = 4
    conv_kernel: int = 3
    filter_size: int = 6
    lrelu_upsampling: int = 2
    use_radial_filters: bool = False
    conv_clamp: float | None = 256
    magnitude_ema_beta: float = 0.999

    def __post_init__(self):
        if self.num_layers <= self.num_critical or self.num_critical < 0:
            raise InputError(f"synthesis num_layers ({self.num_layers}) must exceed num_critical ({self.num_critical})")
        if self.conv_kernel < 1 or self.filter_size < 1 or self.lrelu_upsampling < 1:
            raise InputError("synthesis conv_kernel, filter_size and lrelu_upsampling must be >= 1")


@dataclass(frozen=True)
class StyleGAN3Config:
    z_dim: int = 512
    c_dim: int = 0
    w_dim: int = 512
    img_resolution: int = 1024
    img_channels: int = 3
    mapping: MappingConfig = field(default_factory=_sg3_mapping)
    synthesis: StyleGAN3SynthesisConfig = field(default_factory=StyleGAN3SynthesisConfig)
    architecture: str = ARCHITECTURE

    def __post_init__(self):
        r = self.img_resolution
        if r < 4 or r & (r - 1):
            raise InputError(f"img_resolution must be a power of two >= 4, got {r}")
        if self.architecture != ARCHITECTURE:
            raise InputError(f"a StyleGAN3 config has architecture {ARCHITECTURE!r}, got {self.architecture!r}")

    @property
    def variant(self) -> str:
        """The official config name: ``stylegan3-r`` (radial filters) or ``stylegan3-t``."""
        return "stylegan3-r" if self.synthesis.use_radial_filters else "stylegan3-t"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "StyleGAN3Config":
        data = dict(data)
        mapping = _from_dict(MappingConfig, data.pop("mapping", {}) or {}, "mapping config")
        synthesis = _from_dict(StyleGAN3SynthesisConfig, data.pop("synthesis", {}) or {}, "synthesis config")
        return _from_dict(cls, {**data, "mapping": mapping, "synthesis": synthesis}, "generator config")
