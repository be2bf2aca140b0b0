"""Latent edits: style mixing, interpolation walks and attribute directions in W.

Directions: ``sefa`` (closed form), ``pca`` (GANSpace), ``supervised`` (InterFaceGAN:
``fit_direction`` with a linear SVM or logistic regression); ``direction_file`` holds the
``DirectionSet``, its files and conditioning (``orthogonalize``); ``published`` reads the direction
files other projects publish; ``recipe`` applies several edits at once (``EditRecipe``, ``apply_edits``);
``render`` turns an edit into images, a strip, a video or edited latents; ``interpolate`` makes latent
walks and their videos. All videos go through ``projector.video``.
"""

from .direction_file import (
    DirectionSet,
    apply_direction,
    check_directions,
    layer_mask,
    load_directions,
    orthogonalize,
    save_directions,
    select_directions,
    unit_norm,
)
from .interpolate import (
    EASINGS,
    KINDS,
    WalkVideo,
    direction_sweep,
    ease,
    frame_count,
    frame_positions,
    grid_seeds,
    interpolate,
    slerp,
    transform_keyframes,
    walk,
    walk_video,
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
from .published import name_space
from .recipe import EditRecipe, ResolvedEdit, apply_edits, parse_edit, resolve_edits
from .render import EditPlan, parse_strengths, plan_edit, render_edit
from .sefa import sefa, style_affines
from .supervised import (
    METHODS,
    fit_direction,
    labels_from_attribute,
    labels_from_csv,
    labels_from_predictor,
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
    "check_directions",
    "unit_norm",
    "name_space",
    "layer_mask",
    "apply_direction",
    "EditRecipe",
    "ResolvedEdit",
    "parse_edit",
    "resolve_edits",
    "apply_edits",
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
    "walk_video",
    "transform_keyframes",
    "WalkVideo",
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
