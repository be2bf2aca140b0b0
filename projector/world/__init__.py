"""The demo world: procedural cartoon faces with known labels, and the attribute predictor that reads them.

``faces`` renders the world (every factor of variation is a label); ``predictor`` estimates
those labels from an image, so edits in a generator trained on the world can be measured.
"""

from .faces import (
    ATTRIBUTE_NAMES,
    ATTRIBUTES,
    AttributeSpec,
    WorldDataset,
    render,
    render_batch,
    render_from_labels,
    sample_labels,
    write_world,
)

__all__ = [
    "AttributeSpec",
    "ATTRIBUTES",
    "ATTRIBUTE_NAMES",
    "sample_labels",
    "render",
    "render_from_labels",
    "render_batch",
    "WorldDataset",
    "write_world",
]
