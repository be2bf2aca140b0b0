"""Latent edits: style mixing, interpolation walks and attribute directions in W.

Directions: ``sefa`` (closed form), ``pca`` (GANSpace), ``supervised`` (InterFaceGAN:
``fit_direction`` with a linear SVM or logistic regression); ``direction_file`` holds the
``DirectionSet`` and its files; ``render`` turns an edit into images, a strip or a video.
"""

from .direction_file import (
    DirectionSet,
    apply_direction,
    layer_mask,
    load_directions,
    save_directions,
    select_directions,
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
from .mixing import (
    layer_ranges,
    mixing_grid,
    mixing_outputs,
    parse_layers,
    style_mix,
    write_mixing,
    ws_resolutions,
)
from .pca import pca
from .render import EditPlan, parse_strengths, plan_edit, render_edit
from .sefa import sefa, style_affines
from .supervised import (
    METHODS,
    fit_direction,
    labels_from_attribute,
    labels_from_csv,
    labels_from_predictor,
    orthogonalize,
)

__all__ = [
    "DirectionSet",
    "METHODS",
    "style_affines",
    "sefa",
    "pca",
    "fit_direction",
    "orthogonalize",
    "labels_from_csv",
    "labels_from_predictor",
    "labels_from_attribute",
    "save_directions",
    "load_directions",
    "select_directions",
    "layer_mask",
    "apply_direction",
    "EditPlan",
    "parse_strengths",
    "plan_edit",
    "render_edit",
    "KINDS",
    "EASINGS",
    "ease",
    "frame_count",
    "frame_positions",
    "slerp",
    "interpolate",
    "walk",
    "grid_seeds",
    "direction_sweep",
    "layer_ranges",
    "ws_resolutions",
    "parse_layers",
    "style_mix",
    "mixing_grid",
    "mixing_outputs",
    "write_mixing",
]
