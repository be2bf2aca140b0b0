"""Reading photos as HWC uint8 RGB for the aligner."""

from pathlib import Path

import cv2
import numpy as np

from stylegan2_core.errors import InputError

_JPEG_MAGIC = b"\xff\xd8\xff"


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file -> HWC uint8 RGB.

    JPEGs are decoded with ``IMREAD_COLOR`` so that their EXIF orientation is applied
    (landmarks then refer to the image as it is displayed). Other formats are decoded
    unchanged so that 16-bit depth is scaled rather than truncated and transparent
    pixels are composited over white instead of showing whatever colour they hide.
    Greyscale becomes three equal channels.
    """
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror or err}") from None
    flags = cv2.IMREAD_COLOR if data[:3].tobytes() == _JPEG_MAGIC else cv2.IMREAD_UNCHANGED
    image = cv2.imdecode(data, flags) if data.size else None
    if image is None:
        raise InputError(f"cannot decode {path} as an image")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.dtype == np.uint8 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image.dtype == np.uint8 and image.shape[2] == 1:
        return np.ascontiguousarray(np.repeat(image, 3, axis=2))

    if image.dtype == np.uint16:
        pixels = image.astype(np.float32) / 65535.0
    elif image.dtype == np.uint8:
        pixels = image.astype(np.float32) / 255.0
    elif np.issubdtype(image.dtype, np.floating):
        pixels = np.clip(image.astype(np.float32), 0.0, 1.0)
    else:
        raise InputError(f"{path}: unsupported pixel type {image.dtype}")

    channels = pixels.shape[2]
    if channels in (2, 4):
        alpha = pixels[:, :, -1:]
        pixels = pixels[:, :, :-1] * alpha + (1.0 - alpha)
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    elif pixels.shape[2] == 3:
        pixels = pixels[:, :, ::-1]
    else:
        raise InputError(f"{path}: unsupported channel count {channels}")
    return np.ascontiguousarray(np.rint(pixels * 255.0).astype(np.uint8))
