"""StyleGAN2 and StyleGAN3 generator core: networks, ops, checkpoint loading.

Imports only torch, numpy, safetensors, stdlib.
"""

from importlib.metadata import PackageNotFoundError, version

from . import ops
from .checkpoints import (
    KNOWN_NETWORKS,
    CheckpointInfo,
    estimate_w_avg,
    load_generator,
    model_id,
    save_generator,
)
from .config import GeneratorConfig, MappingConfig, SynthesisConfig
from .errors import (
    CheckpointError,
    InputError,
    Interrupted,
    OpUnavailableError,
    S2EditError,
    ShapeError,
    UnknownFormatError,
    UnsafeCheckpointError,
)
from .image import from_uint8, to_uint8
from .latent import (
    broadcast_ws,
    check_ws,
    class_labels,
    parse_seeds,
    sample_ws,
    w_statistics,
    z_from_seeds,
    z_samples,
)
from .networks import DEFAULT_NOISE_MODE, NOISE_MODES, Generator
from .sg3 import Generator as StyleGAN3Generator
from .sg3 import StyleGAN3Config, StyleGAN3SynthesisConfig, make_transform

try:
    __version__ = version("s2edit")
except PackageNotFoundError:  # running from a checkout without installing
    __version__ = "0.0.0+local"

__all__ = [
    "__version__",
    "ops",
    "Generator",
    "GeneratorConfig",
    "MappingConfig",
    "SynthesisConfig",
    "StyleGAN3Generator",
    "StyleGAN3Config",
    "StyleGAN3SynthesisConfig",
    "make_transform",
    "NOISE_MODES",
    "DEFAULT_NOISE_MODE",
    "load_generator",
    "save_generator",
    "estimate_w_avg",
    "model_id",
    "CheckpointInfo",
    "KNOWN_NETWORKS",
    "to_uint8",
    "from_uint8",
    "parse_seeds",
    "z_from_seeds",
    "z_samples",
    "class_labels",
    "sample_ws",
    "w_statistics",
    "broadcast_ws",
    "check_ws",
    "S2EditError",
    "InputError",
    "Interrupted",
    "CheckpointError",
    "UnknownFormatError",
    "UnsafeCheckpointError",
    "OpUnavailableError",
    "ShapeError",
]
