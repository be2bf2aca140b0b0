"""Off-world test images: world faces with content the demo generator never drew.

The demo generator only draws what ``faces`` renders; a real photo always holds more. These
images keep a world face (so its labels still say what the face is) and add one thing from
outside the world: headwear, a scar, a sticker with text, an eye patch, a beard, sensor noise
with JPEG artefacts, or a blend with a real photograph from scikit-image's data module. They
measure how projection and tuning cope with what a model cannot draw. Everything is
deterministic from the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from stylegan2_core.errors import InputError

from .faces import _HAIR, _Painter, _palette, render_from_labels, sample_labels

__all__ = ["KINDS", "PHOTOS", "OffWorldImage", "offworld_image", "offworld_set"]

KINDS = ("headwear", "scar", "sticker", "eye_patch", "beard", "noise_jpeg", "photo_blend")
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")  # bundled with scikit-image, no download
_WORDS = ("HELLO", "OK", "42", "NO", "S2", "HI")
_SUPERSAMPLE = 4


@dataclass(frozen=True)
class OffWorldImage:
    """One test image (HWC uint8 RGB), what was added, and the labels of the world face under it."""

    image: np.ndarray
    kind: str
    seed: int
    face_seed: int
    labels: dict[str, float]


def _painter(canvas: np.ndarray, labels: dict[str, float], tilt: bool = True) -> _Painter:
    """A painter in the head coordinates ``faces`` uses, on a canvas of any size."""
    big = canvas.shape[0]
    center = (big * (0.5 + 0.08 * labels["shift_x"]), big * (0.44 + 0.05 * labels["shift_y"]))
    return _Painter(canvas, center, 0.2 * big, labels["tilt"] if tilt else 0.0)


def _color(rs: np.random.RandomState) -> tuple[float, float, float]:
    hsv = np.uint8([[[rs.randint(0, 180), rs.randint(160, 256), rs.randint(90, 230)]]])
    return tuple(float(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])


def _headwear(canvas, labels, rs):
    p = _painter(canvas, labels)
    color, band = _color(rs), _color(rs)
    if rs.uniform() < 0.5:  # top hat
        p.polygon([(-0.78, -0.95), (0.78, -0.95), (0.7, -2.1), (-0.7, -2.1)], color)
        p.polygon([(-0.78, -1.05), (0.78, -1.05), (0.77, -1.25), (-0.77, -1.25)], band)
        p.ellipse((0.0, -0.95), (1.4, 0.2), color)
    else:  # beanie with a bobble
        p.ellipse((0.0, -0.75), (1.12, 0.95), color, start=180, end=360)
        p.polygon([(-1.14, -0.75), (1.14, -0.75), (1.14, -0.45), (-1.14, -0.45)], band)
        p.ellipse((0.0, -1.75), (0.25, 0.25), band)


def _scar(canvas, labels, rs):
    p = _painter(canvas, labels)
    side = rs.choice([-1, 1])
    start = np.array([side * 0.25, -0.35])
    end = np.array([side * 0.8, 0.55])
    color = (120, 30, 35)
    p.polyline([start, end], color, 0.06)
    for t in np.linspace(0.15, 0.85, 4):
        mid = start + t * (end - start)
        normal = np.array([end[1] - start[1], start[0] - end[0]])
        normal = 0.1 * normal / np.linalg.norm(normal)
        p.polyline([mid - normal, mid + normal], color, 0.035)


def _sticker(canvas, labels, rs):
    p = _painter(canvas, labels, tilt=False)
    side = rs.choice([-1, 1])
    p.ellipse((side * 0.6, 0.45), (0.32, 0.32), _color(rs))
    big = canvas.shape[0]
    word = _WORDS[rs.randint(len(_WORDS))]
    scale = big / 160
    (w, h), _ = cv2.getTextSize(word, cv2.FONT_HERSHEY_SIMPLEX, scale, max(1, big // 64))
    x = int(rs.uniform(0.02, 0.98) * max(1, big - w))
    y = int(rs.choice([0.12, 0.97]) * big)
    y = min(max(y, h + 2), big - 2)
    cv2.putText(canvas, word, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (15, 15, 15), max(1, big // 64), cv2.LINE_AA)


def _eye_patch(canvas, labels, rs):
    p = _painter(canvas, labels)
    side = rs.choice([-1, 1])
    p.polyline([(-1.05, -0.45 * side), (1.05, 0.45 * side)], (20, 20, 20), 0.06)
    p.ellipse((side * 0.4, 0.05), (0.27, 0.22), (15, 15, 15))


def _beard(canvas, labels, rs):
    p = _painter(canvas, labels)
    color = tuple(float(v) for v in _palette(_HAIR, rs.uniform()) * 0.8)
    t = np.radians(np.linspace(5, 175, 24))
    outer = np.stack([1.0 * np.cos(t), 1.22 * np.sin(t) + 0.1], -1)
    inner = np.array([(-0.75, 0.35), (-0.4, 0.95), (0.4, 0.95), (0.75, 0.35)])
    p.polygon(np.concatenate([outer, inner]), color)
    p.ellipse((0.0, 0.62), (0.36, 0.08), color)


def _photo(name: str) -> np.ndarray:
    try:
        import skimage.data
    except ImportError:
        raise InputError("photo blends need scikit-image: pip install 's2edit[offworld]'") from None
    image = getattr(skimage.data, name)()
    return image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)


def _photo_blend(image: np.ndarray, rs: np.random.RandomState) -> np.ndarray:
    photo = _photo(PHOTOS[rs.randint(len(PHOTOS))])
    h, w = photo.shape[:2]
    side = int(min(h, w) * rs.uniform(0.6, 1.0))
    y, x = rs.randint(0, h - side + 1), rs.randint(0, w - side + 1)
    crop = cv2.resize(np.ascontiguousarray(photo[y:y + side, x:x + side, :3]), image.shape[:2][::-1],
                      interpolation=cv2.INTER_AREA)
    alpha = rs.uniform(0.3, 0.5)
    return np.clip(image * (1 - alpha) + crop * alpha + 0.5, 0, 255).astype(np.uint8)


def _noise_jpeg(image: np.ndarray, rs: np.random.RandomState) -> np.ndarray:
    noisy = np.clip(image + rs.normal(0.0, rs.uniform(8, 20), image.shape) + 0.5, 0, 255).astype(np.uint8)
    _, data = cv2.imencode(".jpg", cv2.cvtColor(noisy, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY,
                                                                            int(rs.randint(10, 30))])
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


_DRAWN = {"headwear": _headwear, "scar": _scar, "sticker": _sticker, "eye_patch": _eye_patch, "beard": _beard}


def offworld_image(seed: int, kind: str, size: int = 64) -> OffWorldImage:
    """The off-world image of ``seed`` with one addition of ``kind`` (see ``KINDS``)."""
    if kind not in KINDS:
        raise InputError(f"unknown off-world kind {kind!r}; use one of {KINDS}")
    if size < 8:
        raise InputError(f"size must be at least 8, got {size}")
    rs = np.random.RandomState(seed)
    face_seed = int(rs.randint(0, 2**31 - 1))
    labels = sample_labels(face_seed)
    if kind in _DRAWN:
        canvas = render_from_labels(labels, size * _SUPERSAMPLE)
        _DRAWN[kind](canvas, labels, rs)
        image = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    else:
        image = render_from_labels(labels, size)
        image = _noise_jpeg(image, rs) if kind == "noise_jpeg" else _photo_blend(image, rs)
    return OffWorldImage(image=image, kind=kind, seed=seed, face_seed=face_seed, labels=labels)


def offworld_set(count: int, seed: int = 0, size: int = 64, kinds: tuple[str, ...] = KINDS) -> list[OffWorldImage]:
    """``count`` off-world images: image ``i`` has seed ``seed + i`` and kind ``kinds[i % len(kinds)]``."""
    if count < 0:
        raise InputError(f"count must be >= 0, got {count}")
    if not kinds:
        raise InputError("kinds must not be empty")
    return [offworld_image(seed + i, kinds[i % len(kinds)], size) for i in range(count)]
