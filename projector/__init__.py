"""Everything built on the generator: projection into W / W+, edits, latent files, metrics,
the demo world and its attribute predictor, and training.

``load_network`` loads any generator a user can name, training checkpoints included.
Subpackages: ``edits`` (directions, mixing, interpolation), ``metrics`` (PSNR/SSIM,
FD-EffNetLite0, PPL), ``world`` (the procedural faces and their predictor), ``training``
(the paper's trainer), ``align`` (FFHQ face alignment). Imports ``stylegan2_core``; never
prints (the CLI does).
"""

from .loader import load_network
from .project import (
    DEFAULT_PRESET,
    ProjectionResult,
    ProjectionStep,
    ProjectorConfig,
    learning_rate,
    project,
    w_noise_scale,
)
from .tune import TuneConfig, TuneResult, TuneStep, apply_update, pivot_settings, pivot_space, tune
from .tuned_file import load_tuned, save_tuned

__all__ = ["DEFAULT_PRESET", "ProjectorConfig", "ProjectionResult", "ProjectionStep", "learning_rate", "load_network",
           "project", "w_noise_scale", "TuneConfig", "TuneResult", "TuneStep", "tune", "apply_update", "save_tuned",
           "load_tuned", "pivot_space", "pivot_settings"]
