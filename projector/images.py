"""Reading target images and writing images: the projector's file boundary.

Images come in as any common file (PNG, JPEG with EXIF orientation, WebP, 16-bit,
greyscale, RGBA) and leave the library as NCHW float32 in [-1, 1].
"""

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import imageio.v3 as iio
import numpy as np
import torch

from stylegan2_core import InputError, to_uint8
from stylegan2_core.fileio import atomic_write

__all__ = ["MAX_PIXELS", "Preprocessing", "image_size", "read_image", "read_pixels", "prepare_target", "load_target",
           "save_image", "save_pixels", "image_grid", "save_grid", "collect_images", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")  # the one list of readable images
# Images over this many pixels are refused before decoding (a 1 MB PNG can declare 20000 x 20000 pixels,
# 12 GB once decoded). ``S2EDIT_MAX_PIXELS`` raises or lowers it; ``max_pixels=`` does per call.
MAX_PIXELS = 100_000_000


def _max_pixels() -> int:
    text = os.environ.get("S2EDIT_MAX_PIXELS")
    if not text:
        return MAX_PIXELS
    try:
        return int(text)
    except ValueError:
        raise InputError(f"S2EDIT_MAX_PIXELS={text!r} is not an integer") from None


def image_size(path) -> tuple[int, int]:
    """(width, height) from the file's header, without decoding the pixels."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                return img.size
    except Image.DecompressionBombError:
        raise InputError(f"{path}: declares too many pixels to decode safely") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise InputError(f"{path}: unreadable or unsupported image ({err})") from None


@dataclass(frozen=True)
class Preprocessing:
    """How a photo became a target: recorded in every latent file."""

    mode: str  # 'crop' (centre crop to square) or 'pad' (edge-pad to square)
    source_size: tuple[int, int]  # (width, height) after EXIF orientation
    resolution: int
    resample: str = "lanczos"


def read_image(path, max_pixels: int | None = None) -> np.ndarray:
    """Decode ``path`` into HWC float32 RGB in [0, 1] (EXIF orientation applied, alpha over white).

    The header is read first: an image of more than ``max_pixels`` (default ``MAX_PIXELS`` or
    ``$S2EDIT_MAX_PIXELS``) is refused before any pixel is decoded.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such image file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file")
    limit = _max_pixels() if max_pixels is None else max_pixels
    width, height = image_size(path)
    if width * height > limit:
        raise InputError(f"{path}: {width} x {height} = {width * height:,} pixels, over the limit of {limit:,} "
                         "(set S2EDIT_MAX_PIXELS to allow more)")
    # ANYDEPTH|ANYCOLOR keeps 16-bit and greyscale data; unlike IMREAD_UNCHANGED it applies EXIF orientation.
    data = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    alpha = None
    if data is not None and path.suffix.lower() in (".png", ".webp", ".tif", ".tiff"):
        full = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if full is not None and full.ndim == 3 and full.shape[2] == 4 and full.shape[:2] == data.shape[:2]:
            alpha = full[..., 3]
    if data is None:
        raise InputError(f"{path}: unreadable or unsupported image")
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(data.dtype)
    if scale is None:
        raise InputError(f"{path}: unsupported pixel type {data.dtype}")
    img = data.astype(np.float32) / scale
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    elif img.shape[2] == 3:
        img = img[..., ::-1]
    else:
        raise InputError(f"{path}: {img.shape[2]} channels; expected greyscale, RGB or RGBA")
    if alpha is not None:
        a = alpha.astype(np.float32)[..., None] / (65535.0 if alpha.dtype == np.uint16 else 255.0)
        img = img * a + (1 - a)
    if min(img.shape[:2]) < 1:
        raise InputError(f"{path}: image has no pixels")
    return np.ascontiguousarray(img)


def read_pixels(path) -> np.ndarray:
    """``read_image`` as HWC uint8 RGB (for the face detector and paste-back)."""
    img = torch.from_numpy(read_image(path)).permute(2, 0, 1)[None] * 2 - 1
    return to_uint8(img)[0]


def prepare_target(img: np.ndarray, resolution: int, crop: bool = True) -> tuple[torch.Tensor, Preprocessing]:
    """HWC [0, 1] RGB -> [1, 3, R, R] in [-1, 1]: centre crop (or pad) to square, Lanczos resize."""
    h, w = img.shape[:2]
    if crop:
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        img = img[top:top + s, left:left + s]
    else:
        s = max(h, w)
        top, left = (s - h) // 2, (s - w) // 2
        img = cv2.copyMakeBorder(img, top, s - h - top, left, s - w - left, cv2.BORDER_REPLICATE)
    if img.shape[0] != resolution:
        shrink = img.shape[0] > resolution
        img = cv2.resize(img, (resolution, resolution), interpolation=cv2.INTER_AREA if shrink and img.shape[0] >= 4 * resolution else cv2.INTER_LANCZOS4)
    img = np.clip(img, 0, 1)
    tensor = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None] * 2 - 1
    return tensor.float(), Preprocessing(mode="crop" if crop else "pad", source_size=(w, h), resolution=resolution)


def load_target(path, resolution: int, crop: bool = True) -> tuple[torch.Tensor, Preprocessing]:
    """Read and prepare one target image."""
    return prepare_target(read_image(path), resolution, crop=crop)


def save_image(path, image: torch.Tensor) -> Path:
    """Write one [1, C, H, W] or [C, H, W] image in [-1, 1] as PNG/JPEG (by suffix), atomically (``save_pixels``)."""
    if image.ndim == 3:
        image = image[None]
    return save_pixels(path, to_uint8(image)[0])


def save_pixels(path, pixels: np.ndarray) -> Path:
    """Write one HWC uint8 image (format by suffix) atomically: an interrupt leaves no half-written file, and
    a symlink at ``path`` is replaced, never written through."""
    path = Path(path)
    pixels = np.asarray(pixels)
    atomic_write(path, lambda tmp: iio.imwrite(tmp, pixels if pixels.shape[-1] != 1 else pixels[..., 0],
                                               extension=path.suffix))
    return path


def image_grid(pixels, cols: int, rows: int | None = None, fill=0):
    """Lay images out row-major: [N, H, W, C] -> [rows·H, cols·W, C] (numpy array or tensor, any dtype).

    ``rows`` defaults to ceil(N / cols); cells past N are ``fill`` (0: black for uint8).
    """
    n, h, w, c = pixels.shape
    rows = rows or -(-n // cols)
    if cols < 1 or n > rows * cols:
        raise InputError(f"{n} images do not fit a {cols}x{rows} grid")
    if isinstance(pixels, torch.Tensor):
        cells = torch.cat([pixels, pixels.new_full([rows * cols - n, h, w, c], fill)])
        return cells.reshape(rows, cols, h, w, c).permute(0, 2, 1, 3, 4).reshape(rows * h, cols * w, c)
    cells = np.concatenate([pixels, np.full([rows * cols - n, h, w, c], fill, dtype=pixels.dtype)])
    return cells.reshape(rows, cols, h, w, c).transpose(0, 2, 1, 3, 4).reshape(rows * h, cols * w, c)


def save_grid(path, images, cols: int, rows: int | None = None) -> Path:
    """Save images (NCHW float in [-1, 1], or NHWC uint8) as one grid image, ``cols`` per row."""
    pixels = to_uint8(images) if isinstance(images, torch.Tensor) else np.asarray(images)
    return save_pixels(path, image_grid(pixels, cols, rows))


def collect_images(inputs) -> list[Path]:
    """Image files and folders (their images, sorted) -> a list of files with distinct stems.

    Outputs are named by stem, so two inputs with the same stem raise ``InputError``.
    """
    images = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise InputError(f"{item}: folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
            images += found
        else:
            images.append(item)
    stems = [p.stem for p in images]
    dupes = sorted({s for s in stems if stems.count(s) > 1})
    if dupes:
        raise InputError(f"several inputs share the name {dupes[0]!r}; outputs go to <outdir>/<name>/, rename one")
    return images
