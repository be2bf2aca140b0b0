"""FFHQ-style face alignment for real photos, and pasting edited faces back.

Faces are found by an MTCNN detector (weights shipped in ``weights/``, run on the CPU
by default, no download). Its five landmarks drive the FFHQ crop: the aligned square
has the eyes level and at the positions StyleGAN2's FFHQ models were trained on. The
source -> aligned transform is kept (and saved as JSON) so an edited aligned image can
be warped back into the original photo.

Pixel coordinates everywhere put the centre of the top-left pixel at (0, 0).
"""

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stylegan2_core.errors import InputError, ShapeError
from stylegan2_core.fileio import atomic_write

from ..images import read_pixels as read_image
from . import _ffhq, _mtcnn

__all__ = [
    "LANDMARK_NAMES",
    "Face",
    "AlignedFace",
    "detect_faces",
    "align_face",
    "align_image",
    "align_file",
    "paste_back",
    "paste_file",
    "save_alignment",
    "load_alignment",
]

logger = logging.getLogger(__name__)

LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
"""Landmark order; left and right are as seen in the image (left_eye has the smaller x)."""


@dataclass
class Face:
    """One detection: ``box`` [x0, y0, x1, y1] (first and last pixel), ``score`` the
    detector's probability, ``landmarks`` [5, 2] (x, y) in ``LANDMARK_NAMES`` order."""

    box: np.ndarray
    score: float
    landmarks: np.ndarray

    @property
    def area(self) -> float:
        return float((self.box[2] - self.box[0] + 1) * (self.box[3] - self.box[1] + 1))


@dataclass
class AlignedFace:
    """An aligned crop and the geometry that made it.

    ``transform`` is the 3x3 affine matrix from source pixels to aligned pixels, ``quad``
    the FFHQ crop's corners in the source (top-left, bottom-left, bottom-right,
    top-right), ``landmarks``/``box``/``score`` the detection in source pixels and
    ``source_size`` the source image's (width, height). ``image`` is None when the
    alignment was loaded from JSON.
    """

    image: np.ndarray | None
    quad: np.ndarray
    transform: np.ndarray
    landmarks: np.ndarray
    size: int
    box: np.ndarray
    score: float
    source_size: tuple[int, int]
    source: str | None = None


def _check_rgb(image: np.ndarray, what: str = "image") -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ShapeError(f"{what}: expected HWC uint8 RGB pixels, got {image.dtype} array of shape {image.shape}")
    return image


def detect_faces(image: np.ndarray, device: str = "cpu") -> list[Face]:
    """All faces in an HWC uint8 RGB image, largest box first."""
    image = _check_rgb(image)
    boxes, landmarks = _mtcnn.detect(image, device=device)
    faces = [Face(box=b[:4] - 1.0, score=float(b[4]), landmarks=lm) for b, lm in zip(boxes, landmarks)]
    faces.sort(key=lambda f: f.area, reverse=True)
    logger.info("found %d face(s)", len(faces))
    return faces


def align_face(image: np.ndarray, face: Face, size: int) -> AlignedFace:
    """FFHQ-align one detected face into a size x size image."""
    image = _check_rgb(image)
    if size < 1:
        raise InputError(f"aligned size must be positive, got {size}")
    quad = _ffhq.ffhq_quad(face.landmarks)
    return AlignedFace(
        image=_ffhq.warp_face(image, quad, size),
        quad=quad,
        transform=_ffhq.quad_transform(quad, size),
        landmarks=np.asarray(face.landmarks, dtype=np.float64),
        size=int(size),
        box=np.asarray(face.box, dtype=np.float64),
        score=float(face.score),
        source_size=(image.shape[1], image.shape[0]),
    )


def align_image(
    image: np.ndarray, size: int, face_index: int | None = None, all_faces: bool = False, device: str = "cpu"
) -> list[AlignedFace]:
    """Detect and align: the largest face by default, the ``face_index``-th largest
    (0 = largest), or every face with ``all_faces``. Raises ``InputError`` if none is found."""
    if all_faces and face_index is not None:
        raise InputError("choose either one face index or all faces, not both")
    faces = detect_faces(image, device=device)
    if not faces:
        raise InputError(f"no face found (faces smaller than {_mtcnn.MIN_FACE_SIZE} px are not detected)")
    if all_faces:
        chosen = faces
    else:
        index = 0 if face_index is None else face_index
        if not 0 <= index < len(faces):
            raise InputError(f"face {index} requested but {len(faces)} found (0 is the largest)")
        chosen = [faces[index]]
    return [align_face(image, face, size) for face in chosen]


def align_file(
    path: str | Path, size: int, face_index: int | None = None, all_faces: bool = False, device: str = "cpu"
) -> list[AlignedFace]:
    """``align_image`` on a photo file; errors name the file."""
    image = read_image(path)
    try:
        aligned = align_image(image, size, face_index=face_index, all_faces=all_faces, device=device)
    except InputError as err:
        raise InputError(f"{path}: {err}") from None
    for item in aligned:
        item.source = str(path)
    return aligned


def paste_back(
    original: np.ndarray, edited: np.ndarray, transform: np.ndarray, feather: float = 0.08, size: int | None = None
) -> np.ndarray:
    """Warp an edited aligned image back into the original photo -> new HWC uint8 image.

    ``transform`` is the source -> aligned matrix of ``AlignedFace`` for aligned size
    ``size`` (default: the edited image's size; an edit at another resolution is
    rescaled). The pasted square fades out over ``feather`` times its side at its edges.
    """
    original = _check_rgb(original, "original")
    edited = _check_rgb(edited, "edited")
    if edited.shape[0] != edited.shape[1]:
        raise ShapeError(f"edited: expected a square aligned image, got {edited.shape[1]}x{edited.shape[0]}")
    transform = np.asarray(transform, dtype=np.float64)
    if transform.shape != (3, 3):
        raise ShapeError(f"transform: expected a 3x3 matrix, got shape {transform.shape}")
    return _ffhq.paste_back(original, edited, transform, size or edited.shape[0], feather)


def paste_file(
    original_path: str | Path, edited_path: str | Path, alignment: AlignedFace, feather: float = 0.08
) -> np.ndarray:
    """``paste_back`` on files, checking that the original is the photo the alignment was made on."""
    original = read_image(original_path)
    width, height = alignment.source_size
    if original.shape[:2] != (height, width):
        raise InputError(
            f"{original_path} is {original.shape[1]}x{original.shape[0]} but the alignment was made on a "
            f"{width}x{height} image ({alignment.source or 'unknown source'})"
        )
    edited = read_image(edited_path)
    if edited.shape[0] != edited.shape[1]:
        raise InputError(f"{edited_path}: expected a square aligned image, got {edited.shape[1]}x{edited.shape[0]}")
    return paste_back(original, edited, alignment.transform, feather=feather, size=alignment.size)


def save_alignment(aligned: AlignedFace, json_path: str | Path, source: str | Path | None = None) -> None:
    """Write the alignment geometry (source pixels) as JSON."""
    source = source if source is not None else aligned.source
    record = {
        "landmarks": {name: [float(v) for v in point] for name, point in zip(LANDMARK_NAMES, aligned.landmarks)},
        "quad": np.asarray(aligned.quad, dtype=float).tolist(),
        "transform": np.asarray(aligned.transform, dtype=float).tolist(),
        "size": int(aligned.size),
        "source": None if source is None else str(source),
        "source_size": [int(v) for v in aligned.source_size],
        "box": [float(v) for v in aligned.box],
        "score": float(aligned.score),
    }
    text = json.dumps(record, indent=2) + "\n"
    atomic_write(Path(json_path), lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def load_alignment(json_path: str | Path) -> AlignedFace:
    """Read a ``save_alignment`` JSON back (``image`` is None)."""
    try:
        record = json.loads(Path(json_path).read_text(encoding="utf-8"))
    except OSError as err:
        raise InputError(f"cannot read {json_path}: {err.strerror or err}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{json_path} is not valid JSON: {err}") from None
    try:
        landmarks = np.array([record["landmarks"][name] for name in LANDMARK_NAMES], dtype=np.float64)
        aligned = AlignedFace(
            image=None,
            quad=np.array(record["quad"], dtype=np.float64),
            transform=np.array(record["transform"], dtype=np.float64),
            landmarks=landmarks,
            size=int(record["size"]),
            box=np.array(record["box"], dtype=np.float64),
            score=float(record["score"]),
            source_size=tuple(int(v) for v in record["source_size"]),
            source=record.get("source"),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"{json_path} is not an alignment file ({type(err).__name__}: {err})") from None
    shapes = {"landmarks": (5, 2), "quad": (4, 2), "transform": (3, 3), "box": (4,)}
    for name, shape in shapes.items():
        if getattr(aligned, name).shape != shape:
            raise InputError(f"{json_path}: '{name}' should have shape {shape}")
    if len(aligned.source_size) != 2 or aligned.size < 1:
        raise InputError(f"{json_path}: bad 'size' or 'source_size'")
    return aligned
