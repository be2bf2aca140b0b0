"""A procedural world of cartoon faces whose every factor of variation is a known label.

Nothing pretrained can be downloaded, so the demo StyleGAN2 model is trained on this
world: because each image is rendered from an explicit label vector, attribute edits
found in the GAN's latent space can be measured against ground truth.

Rendering is deterministic: ``render(seed)`` samples the labels with
``np.random.RandomState(seed)`` and draws them with OpenCV at 4x the output size
(anti-aliased primitives, sub-pixel coordinates), then downsamples with area averaging.
"""

from __future__ import annotations

import colorsys
import csv
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from stylegan2_core.errors import InputError
from stylegan2_core.fileio import atomic_write
from stylegan2_core.image import from_uint8

__all__ = [
    "AttributeSpec",
    "ATTRIBUTES",
    "ATTRIBUTE_NAMES",
    "sample_labels",
    "render",
    "render_from_labels",
    "render_batch",
    "WorldDataset",
    "world_outputs",
    "write_world",
]


@dataclass(frozen=True)
class AttributeSpec:
    """One factor of the world: its label range and what it controls."""

    name: str
    kind: str  # 'continuous' or 'binary'
    low: float
    high: float
    description: str


ATTRIBUTES: tuple[AttributeSpec, ...] = (
    AttributeSpec("smile", "continuous", -1.0, 1.0, "mouth curvature: -1 frown, 0 neutral, 1 open smile"),
    AttributeSpec("eye_openness", "continuous", 0.0, 1.0, "eyelid opening: 0 closed, 1 wide open"),
    AttributeSpec("skin_tone", "continuous", 0.0, 1.0, "skin colour along a palette from light to dark"),
    AttributeSpec("hair_color", "continuous", 0.0, 1.0, "hair colour: black, brown, red, blond, grey"),
    AttributeSpec("hair_length", "continuous", 0.0, 1.0, "0 short cap, 1 long hair down to the shoulders"),
    AttributeSpec("glasses", "binary", 0.0, 1.0, "glasses frames on (1) or off (0)"),
    AttributeSpec("shift_x", "continuous", -1.0, 1.0, "head position, -1 left to 1 right (8% of the width)"),
    AttributeSpec("shift_y", "continuous", -1.0, 1.0, "head position, -1 up to 1 down (5% of the height)"),
    AttributeSpec("tilt", "continuous", -25.0, 25.0, "head rotation in degrees, positive clockwise"),
    AttributeSpec("background_hue", "continuous", 0.0, 0.8, "background hue (HSV, red through violet, no wrap)"),
    AttributeSpec("lighting", "continuous", -1.0, 1.0, "brightness gradient on the figure: -1 lit from left, 1 from right"),
)
ATTRIBUTE_NAMES: tuple[str, ...] = tuple(a.name for a in ATTRIBUTES)

Color = tuple[float, ...] | int
Points = np.ndarray | list[tuple[float, float]]

_SUPERSAMPLE = 4
_SHIFT_BITS = 4  # OpenCV fixed-point fraction bits: 1/16 pixel coordinates
_ONE = 1 << _SHIFT_BITS

_SKIN = np.array(
    [(255, 226, 200), (242, 198, 164), (226, 174, 128), (196, 134, 92), (142, 88, 58), (92, 58, 40)], np.float64
)
_HAIR = np.array([(30, 26, 26), (98, 60, 38), (178, 74, 36), (230, 196, 118), (184, 184, 190)], np.float64)
_SHIRT = (68, 84, 112)
_LINE = (54, 34, 32)
_LIPS = (150, 48, 58)
_MOUTH = (96, 26, 36)
_FRAME = (28, 28, 34)


def _palette(colors: np.ndarray, t: float) -> np.ndarray:
    """Piecewise-linear colour at ``t`` in [0, 1] along evenly spaced palette stops."""
    pos = float(np.clip(t, 0.0, 1.0)) * (len(colors) - 1)
    i = min(int(pos), len(colors) - 2)
    f = pos - i
    return colors[i] * (1 - f) + colors[i + 1] * f


def _truncated_normal(rs: np.random.RandomState, mean: float, std: float, low: float, high: float) -> float:
    """Normal sample restricted to [low, high] by rejection (deterministic given ``rs``)."""
    while True:
        v = mean + std * rs.standard_normal()
        if low <= v <= high:
            return float(v)


def sample_labels(seed: int) -> dict[str, float]:
    """The label set of ``seed``: every factor drawn independently, in a fixed order."""
    rs = np.random.RandomState(seed)
    return {
        "smile": float(rs.uniform(-1.0, 1.0)),
        "eye_openness": float(rs.uniform(0.0, 1.0)),
        "skin_tone": float(rs.uniform(0.0, 1.0)),
        "hair_color": float(rs.uniform(0.0, 1.0)),
        "hair_length": float(rs.uniform(0.0, 1.0)),
        "glasses": float(rs.uniform() < 0.3),
        "shift_x": float(rs.uniform(-1.0, 1.0)),
        "shift_y": float(rs.uniform(-1.0, 1.0)),
        "tilt": _truncated_normal(rs, 0.0, 10.0, -25.0, 25.0),
        "background_hue": float(rs.uniform(0.0, 0.8)),
        "lighting": float(rs.uniform(-1.0, 1.0)),
    }


class _Painter:
    """Draws in head coordinates (head half-width = 1, y down) on a supersampled canvas."""

    def __init__(self, image: np.ndarray, center: tuple[float, float], unit: float, angle_deg: float):
        self.image = image
        self.cx, self.cy = center
        self.unit = unit
        self.angle = angle_deg
        rad = math.radians(angle_deg)
        self.cos, self.sin = math.cos(rad), math.sin(rad)

    def _xy(self, pts: np.ndarray) -> np.ndarray:
        u, v = pts[..., 0], pts[..., 1]
        x = self.cx + self.unit * (u * self.cos - v * self.sin)
        y = self.cy + self.unit * (u * self.sin + v * self.cos)
        return np.round(np.stack([x, y], -1) * _ONE).astype(np.int32)

    def _width(self, t: float) -> int:
        return max(1, round(t * self.unit))

    def ellipse(
        self,
        c: tuple[float, float],
        axes: tuple[float, float],
        color: Color,
        thickness: float = -1.0,
        start: float = 0,
        end: float = 360,
    ) -> None:
        """Filled (thickness < 0) or stroked ellipse/arc, rotated with the painter."""
        center = tuple(int(v) for v in self._xy(np.asarray(c, np.float64)))
        ax = (max(1, round(axes[0] * self.unit * _ONE)), max(1, round(axes[1] * self.unit * _ONE)))
        width = -1 if thickness < 0 else self._width(thickness)
        cv2.ellipse(self.image, center, ax, self.angle, start, end, color, width, cv2.LINE_AA, _SHIFT_BITS)

    def polygon(self, pts: Points, color: Color) -> None:
        cv2.fillPoly(self.image, [self._xy(np.asarray(pts, np.float64))], color, cv2.LINE_AA, _SHIFT_BITS)

    def polyline(self, pts: Points, color: Color, thickness: float) -> None:
        xy = self._xy(np.asarray(pts, np.float64))
        cv2.polylines(self.image, [xy], False, color, self._width(thickness), cv2.LINE_AA, _SHIFT_BITS)


def _arc(cx: float, cy: float, ax: float, ay: float, start: float, end: float, n: int = 24) -> np.ndarray:
    t = np.radians(np.linspace(start, end, n))
    return np.stack([cx + ax * np.cos(t), cy + ay * np.sin(t)], -1)


def _back_hair(length: float) -> np.ndarray:
    """Hair behind the head: the crown plus a curtain whose bottom edge drops with ``length``."""
    top = _arc(0.0, -0.08, 1.2, 1.38, 180, 360)
    bottom = -0.08 + 2.5 * length
    flare = 1.2 + 0.2 * length
    curtain = np.array([(flare, bottom - 0.15 * length), (0.0, bottom), (-flare, bottom - 0.15 * length)])
    return np.concatenate([top, curtain]) if length > 0 else top


_HAIR_CAP = np.concatenate(
    [
        _arc(0.0, -0.1, 1.08, 1.3, 180, 360),
        np.array(
            [(1.07, 0.12), (0.93, -0.32), (0.7, -0.52), (0.35, -0.62), (0.15, -0.5),
             (-0.15, -0.62), (-0.5, -0.7), (-0.82, -0.52), (-0.98, -0.25), (-1.07, 0.12)]
        ),
    ]
)


def _mouth_curves(smile: float) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower lip lines: curvature follows ``smile``; the mouth opens above 0.3."""
    half = 0.3 + 0.08 * max(smile, 0.0)
    u = np.linspace(-1.0, 1.0, 17)
    bow = 1.0 - u**2
    upper = 0.74 + 0.2 * smile * bow - 0.1 * smile
    opening = 0.3 * max(0.0, smile - 0.3) / 0.7
    lower = upper + opening * bow
    return np.stack([u * half, upper], -1), np.stack([u * half, lower], -1)


def _check(labels: Mapping[str, float]) -> dict[str, float]:
    missing = [n for n in ATTRIBUTE_NAMES if n not in labels]
    unknown = [n for n in labels if n not in ATTRIBUTE_NAMES]
    if missing or unknown:
        raise InputError(f"labels must have exactly {list(ATTRIBUTE_NAMES)}; missing {missing}, unknown {unknown}")
    for spec in ATTRIBUTES:
        value = float(labels[spec.name])
        if not spec.low <= value <= spec.high:
            raise InputError(f"label {spec.name}={value} outside [{spec.low}, {spec.high}]")
    return {n: float(labels[n]) for n in ATTRIBUTE_NAMES}


def render_from_labels(labels: Mapping[str, float], size: int = 64) -> np.ndarray:
    """Draw the face described by ``labels`` (all attributes, in range) as HWC uint8 RGB."""
    lab = _check(labels)
    if size < 8:
        raise InputError(f"size must be at least 8, got {size}")
    big = size * _SUPERSAMPLE

    hue = lab["background_hue"]
    top = np.array(colorsys.hsv_to_rgb(hue, 0.32, 0.93)) * 255
    bottom = np.array(colorsys.hsv_to_rgb(hue, 0.42, 0.78)) * 255
    ramp = np.linspace(0.0, 1.0, big)[:, None]
    column = (top * (1 - ramp) + bottom * ramp).astype(np.uint8)
    image = np.ascontiguousarray(np.broadcast_to(column[:, None, :], (big, big, 3)))
    mask = np.zeros((big, big), np.uint8)

    unit = 0.2 * big
    cx = big * (0.5 + 0.08 * lab["shift_x"])
    cy = big * (0.44 + 0.05 * lab["shift_y"])
    head = _Painter(image, (cx, cy), unit, lab["tilt"])
    body = _Painter(image, (cx, cy), unit, 0.0)
    head_mask = _Painter(mask, (cx, cy), unit, lab["tilt"])
    body_mask = _Painter(mask, (cx, cy), unit, 0.0)

    skin = _palette(_SKIN, lab["skin_tone"])
    shade = tuple(skin * 0.82)
    skin_c = tuple(skin)
    hair = _palette(_HAIR, lab["hair_color"])
    hair_c = tuple(hair)
    brow_c = tuple(hair * 0.6 + np.array(_LINE) * 0.4)

    # Body and everything behind the head.
    body.ellipse((0.0, 2.75), (1.75, 1.0), _SHIRT)
    body_mask.ellipse((0.0, 2.75), (1.75, 1.0), 255)
    back = _back_hair(lab["hair_length"])
    head.polygon(back, hair_c)
    head_mask.polygon(back, 255)
    neck = [(-0.36, 0.8), (0.36, 0.8), (0.4, 1.95), (-0.4, 1.95)]
    body.polygon(neck, shade)
    body_mask.polygon(neck, 255)
    body.ellipse((0.0, 1.95), (0.4, 0.14), shade, start=0, end=180)
    for side in (-1, 1):
        head.ellipse((side * 0.98, 0.08), (0.17, 0.27), skin_c)
        head.ellipse((side * 1.0, 0.08), (0.07, 0.15), shade)
        head_mask.ellipse((side * 0.98, 0.08), (0.17, 0.27), 255)

    # Face.
    head.ellipse((0.0, 0.0), (1.0, 1.22), skin_c)
    head.ellipse((0.0, 0.0), (1.0, 1.22), shade, thickness=0.035)
    head_mask.ellipse((0.0, 0.0), (1.0, 1.22), 255)
    blush = tuple(skin * 0.8 + np.array((235, 120, 130)) * 0.2)
    for side in (-1, 1):
        head.ellipse((side * 0.58, 0.42), (0.17, 0.1), blush)

    openness = lab["eye_openness"]
    for side in (-1, 1):
        ex, ey = side * 0.4, 0.05
        if openness > 0.04:
            eye_h = 0.17 * openness
            head.ellipse((ex, ey), (0.2, eye_h), (250, 250, 250))
            head.ellipse((ex, ey), (0.1, min(0.1, eye_h)), (40, 30, 30))
            if openness > 0.35:
                head.ellipse((ex + 0.035, ey - 0.035), (0.03, 0.03), (255, 255, 255))
            head.ellipse((ex, ey), (0.2, eye_h), _LINE, thickness=0.03, start=180, end=360)
        else:
            head.ellipse((ex, ey), (0.2, 0.05), _LINE, thickness=0.04, start=20, end=160)
        head.ellipse((ex, ey - 0.18), (0.23, 0.1), brow_c, thickness=0.075, start=200, end=340)

    head.ellipse((0.0, 0.36), (0.1, 0.07), shade, thickness=0.05, start=0, end=180)
    upper, lower = _mouth_curves(lab["smile"])
    if lower[8, 1] - upper[8, 1] > 0.01:
        head.polygon(np.concatenate([upper, lower[::-1]]), _MOUTH)
        teeth = np.concatenate([upper, np.minimum(lower, upper + 0.06)[::-1]])
        head.polygon(teeth, (245, 245, 240))
        head.polyline(lower, _LIPS, 0.05)
    head.polyline(upper, _LIPS, 0.06)

    head.polygon(_HAIR_CAP, hair_c)

    if lab["glasses"] >= 0.5:
        for side in (-1, 1):
            head.ellipse((side * 0.42, 0.06), (0.3, 0.25), _FRAME, thickness=0.07)
            head.polyline([(side * 0.72, 0.02), (side * 1.0, -0.05)], _FRAME, 0.06)
        head.ellipse((0.0, 0.04), (0.12, 0.08), _FRAME, thickness=0.06, start=200, end=340)

    small = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    cover = cv2.resize(mask, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    span = (np.arange(size, dtype=np.float32) + 0.5 - cx / _SUPERSAMPLE) / (1.6 * unit / _SUPERSAMPLE)
    gain = 1.0 + 0.4 * lab["lighting"] * np.clip(span, -1.0, 1.0)
    factor = 1.0 + cover * (gain[None, :] - 1.0)
    return np.clip(small * factor[..., None] + 0.5, 0, 255).astype(np.uint8)


def render(seed: int, size: int = 64) -> tuple[np.ndarray, dict[str, float]]:
    """The image (HWC uint8 RGB) and labels of ``seed``."""
    labels = sample_labels(seed)
    return render_from_labels(labels, size), labels


def render_batch(seeds: Iterable[int], size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Images (NHWC uint8) and labels ([N, num_attributes] float32, ``ATTRIBUTES`` order) of ``seeds``."""
    seeds = list(seeds)
    images = np.empty((len(seeds), size, size, 3), np.uint8)
    labels = np.empty((len(seeds), len(ATTRIBUTES)), np.float32)
    for i, seed in enumerate(seeds):
        images[i], lab = render(seed, size)
        labels[i] = [lab[n] for n in ATTRIBUTE_NAMES]
    return images, labels


class WorldDataset(torch.utils.data.Dataset):
    """Seeds ``start_seed .. start_seed + count - 1`` as (CHW float32 image in [-1, 1], float32 label vector)."""

    def __init__(self, count: int, size: int = 64, start_seed: int = 0):
        self.count = count
        self.size = size
        self.start_seed = start_seed

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < self.count:
            raise IndexError(index)
        image, labels = render(self.start_seed + index, self.size)
        return from_uint8(image)[0], torch.tensor([labels[n] for n in ATTRIBUTE_NAMES], dtype=torch.float32)


def world_outputs(outdir: str | Path, count: int, start_seed: int = 0) -> list[Path]:
    """The files ``write_world`` writes: ``world_{seed:06d}.png`` per seed and ``labels.csv`` (for the
    no-overwrite check before work starts)."""
    outdir = Path(outdir)
    return [outdir / f"world_{seed:06d}.png" for seed in range(start_seed, start_seed + count)] + [
        outdir / "labels.csv"]


def write_world(
    outdir: str | Path,
    count: int,
    size: int = 64,
    start_seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write ``world_{seed:06d}.png`` for ``count`` seeds and ``labels.csv``; returns the CSV path.

    Every file is written atomically (a symlink in the way is replaced, never written through);
    ``labels.csv`` comes last, so it lists only images that exist. Existing files are replaced:
    check ``world_outputs`` first. ``progress(n_done, n_total)`` is called after each image.
    """
    from ..images import save_pixels

    *images, csv_path = world_outputs(outdir, count, start_seed)
    rows = [["file", "seed", *ATTRIBUTE_NAMES]]
    for i, path in enumerate(images):
        seed = start_seed + i
        image, labels = render(seed, size)
        save_pixels(path, image)
        rows.append([path.name, seed, *(repr(labels[n]) for n in ATTRIBUTE_NAMES)])
        if progress is not None:
            progress(i + 1, count)

    def write_csv(tmp: str) -> None:
        with open(tmp, "w", newline="") as fh:
            csv.writer(fh).writerows(rows)

    atomic_write(csv_path, write_csv)
    return csv_path
