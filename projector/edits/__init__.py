"""Latent edits: style mixing, interpolation walks and attribute directions in W."""

from . import directions as _directions, interpolate as _interpolate, mixing as _mixing

from .directions import (
    METHODS,
    DirectionSet,
    apply_direction,
    labels_from_csv,
    labels_from_predictor,
    layer_mask,
    load_directions,
    orthogonalize,
    pca,
    save_directions,
    sefa,
    style_affines,
    svm,
)
from .interpolate import (
    EASINGS,
    KINDS,
    direction_sweep,
    ease,
    frame_count,
    frame_positions,
    grid_seeds,
    interpolate,
    slerp,
    walk,
)
from .mixing import layer_ranges, mixing_grid, parse_layers, style_mix

__all__ = [*_directions.__all__, *_interpolate.__all__, *_mixing.__all__]
