"""Projection of images into a StyleGAN2 generator's latent space, and edits in W.

Imports ``stylegan2_core``; never prints (the CLI does).
"""

from .project import ProjectionResult, ProjectionStep, ProjectorConfig, learning_rate, project, w_noise_scale

__all__ = ["ProjectorConfig", "ProjectionResult", "ProjectionStep", "learning_rate", "project", "w_noise_scale"]
