"""Measures of images and generators: PSNR/SSIM for projections, FD-EffNetLite0 and PPL-W for models.

``image_quality`` compares an image with its target; ``features`` holds the EfficientNet-Lite0
feature statistics and the Fréchet distance; ``generative`` scores a generator (FD, PPL);
``edit_transfer`` measures, in pixels, how much of an edit a tuned generator carries.
"""

from .image_quality import psnr, ssim

__all__ = ["psnr", "ssim"]
