"""Typed configs of the encoder (stored in every encoder file) and of its training (stored in checkpoints)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from stylegan2_core.errors import InputError

__all__ = ["EncoderConfig", "EncoderTrainConfig", "default_encoder_config", "MAX_WORKING_RESOLUTION"]

MAX_WORKING_RESOLUTION = 256  # larger photos are area-downsampled to this before the backbone, as pSp does
MIN_RESOLUTION = 16


def _from_dict(cls, data: dict, what: str):
    """``cls(**data)`` after refusing keys that ``cls`` does not have."""
    data = dict(data)
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise InputError(f"{what}: unknown keys {unknown}")
    return cls(**data)


@dataclass(frozen=True)
class EncoderConfig:
    """Shape of an encoder: the generator it serves (resolution, num_ws, w_dim) and its backbone size.

    The backbone runs at ``working_resolution`` (the photo's resolution up to 256 px); feature maps
    at 1/4, 1/8 and 1/16 of it feed the fine, middle and coarse ws. Channels at feature resolution
    r are ``min(channel_base // r, channel_max)``; ``blocks`` residual blocks per resolution.
    """

    resolution: int
    num_ws: int
    w_dim: int
    working_resolution: int
    channel_base: int
    channel_max: int
    blocks: int
    head_channels: int
    passes: int = 3  # refinement passes of ``Encoder.invert`` (each sees the photo and the current render)

    def __post_init__(self):
        problems = []
        for name in ("resolution", "working_resolution"):
            value = getattr(self, name)
            if value < MIN_RESOLUTION or value & (value - 1):
                problems.append(f"{name} must be a power of two >= {MIN_RESOLUTION}, got {value}")
        if self.working_resolution > self.resolution:
            problems.append("working_resolution cannot exceed resolution")
        if min(self.num_ws, self.w_dim, self.channel_base, self.channel_max, self.blocks, self.head_channels) < 1:
            problems.append("num_ws, w_dim, channel_base, channel_max, blocks and head_channels must be positive")
        if self.passes < 1:
            problems.append(f"passes must be >= 1, got {self.passes}")
        if problems:
            raise InputError("bad encoder config: " + "; ".join(problems))

    @property
    def arch(self) -> str:
        """'small' (working resolution up to 64 px) or 'pyramid' (the pSp/e4e-sized backbone)."""
        return "small" if self.working_resolution <= 64 else "pyramid"

    def channels(self, resolution: int) -> int:
        return min(self.channel_base // resolution, self.channel_max)

    def replace(self, **changes) -> EncoderConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> EncoderConfig:
        return _from_dict(cls, data, "encoder config")


def default_encoder_config(G, passes: int = 3) -> EncoderConfig:
    """The encoder sized for ``G``'s resolution: small up to 64 px, the pSp/e4e-sized pyramid above.

    Small: 1 block per resolution, channels 1024 // r up to 256, 128-wide heads. Pyramid: 2 blocks
    per resolution, channels 8192 // r up to 512 (32 at 256 px ... 512 at 16 px; pSp's ResNet has
    twice that at the top resolutions), 256-wide heads.
    """
    if G.img_resolution < MIN_RESOLUTION:
        raise InputError(f"the encoder needs a generator of at least {MIN_RESOLUTION} px, got {G.img_resolution}")
    working = min(G.img_resolution, MAX_WORKING_RESOLUTION)
    small = working <= 64
    return EncoderConfig(resolution=G.img_resolution, num_ws=G.num_ws, w_dim=G.w_dim, working_resolution=working,
                         channel_base=1024 if small else 8192, channel_max=256 if small else 512,
                         blocks=1 if small else 2, head_channels=128 if small else 256, passes=passes)


@dataclass(frozen=True)
class EncoderTrainConfig:
    """Everything that determines an encoder training run; intervals in kimg (thousands of training images).

    Each batch holds ``batch_size`` images: generator samples (z -> w with truncation psi drawn
    uniformly in ``psi_range``, random noise), and with ``data`` set, a ``real_fraction`` share of
    real images (a folder, a zip or 'world') that get the image losses only. Losses are summed over
    the refinement passes: latent regression to the samples' true ws, pixel MSE, the perceptual
    distance (``perceptual``: 'auto' | 'lpips' | 'effnet', as the projector chooses) and e4e's
    delta regularization of the per-layer offsets.
    """

    network: str  # what --network named (shown by s2edit info; --resume reloads it)
    model_id: str  # stylegan2_core.model_id of that network
    encoder: EncoderConfig
    data: str | None = None
    real_fraction: float = 0.5
    batch_size: int = 8
    kimg: float = 100.0
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    psi_range: tuple[float, float] = (0.5, 1.0)
    latent_weight: float = 1.0
    pixel_weight: float = 1.0
    perceptual_weight: float = 0.8
    delta_weight: float = 2e-4
    perceptual: str = "auto"
    xflip: bool = False
    world_start_seed: int = 0
    seed: int = 0
    tick_kimg: float = 1.0
    snapshot_kimg: float = 10.0

    def __post_init__(self):
        object.__setattr__(self, "betas", tuple(self.betas))
        object.__setattr__(self, "psi_range", tuple(self.psi_range))
        if isinstance(self.encoder, dict):
            object.__setattr__(self, "encoder", EncoderConfig.from_dict(self.encoder))
        problems = []
        if self.batch_size < 1 or self.kimg <= 0 or self.lr <= 0:
            problems.append("batch_size, kimg and lr must be positive")
        if not 0 <= self.real_fraction < 1:
            problems.append(f"real_fraction must be in [0, 1), got {self.real_fraction}")
        if self.data is not None and self.real_batch == 0:
            problems.append(f"batch {self.batch_size} with real_fraction {self.real_fraction} holds no real image")
        lo, hi = self.psi_range
        if not 0 <= lo <= hi:
            problems.append(f"psi_range must be (low, high) with 0 <= low <= high, got {self.psi_range}")
        if min(self.latent_weight, self.pixel_weight, self.perceptual_weight, self.delta_weight) < 0:
            problems.append("loss weights must be >= 0")
        if problems:
            raise InputError("bad encoder training config: " + "; ".join(problems))

    @property
    def real_batch(self) -> int:
        """Real images per batch (0 without ``data``); the rest are generator samples."""
        return int(self.batch_size * self.real_fraction) if self.data is not None else 0

    @property
    def total_nimg(self) -> int:
        return int(round(self.kimg * 1000))

    def replace(self, **changes) -> EncoderTrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["encoder"] = self.encoder.to_dict()
        data["betas"], data["psi_range"] = list(self.betas), list(self.psi_range)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> EncoderTrainConfig:
        return _from_dict(cls, data, "encoder training config")
