"""The StyleGAN3 generator (configs T and R): config, filter design, networks."""

from .config import ARCHITECTURE, StyleGAN3Config, StyleGAN3SynthesisConfig
from .networks import Generator, make_transform

__all__ = ["ARCHITECTURE", "StyleGAN3Config", "StyleGAN3SynthesisConfig", "Generator", "make_transform"]
