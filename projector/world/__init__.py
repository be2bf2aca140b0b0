"""The demo world: procedural cartoon faces with known labels, and the attribute predictor that reads them.

``faces`` renders the world (every factor of variation is a label); ``predictor`` estimates
those labels from an image, so edits in a generator trained on the world can be measured.
"""

from . import faces
from .faces import *  # noqa: F403 - the package's public names are the renderer's

__all__ = faces.__all__
