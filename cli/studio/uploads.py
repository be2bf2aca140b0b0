"""The studio's uploads: checked before decoding (size, type, pixels, decoded bytes), one photo decoding at a time.

A photo's cost is its decoded size, not its file size: a 190 KB PNG may declare 25 megapixels
of 16-bit RGBA (200 MB decoded, over a gigabyte while it becomes a float image). So the header's
width x height x channels x bytes per sample is bounded before any pixel is decoded, and a
semaphore lets one photo decode at a time however many arrive.
"""

from __future__ import annotations

import io
import struct
import tempfile
import threading
from pathlib import Path
from urllib.parse import unquote

from projector.images import image_size
from projector.studio import safe_name
from stylegan2_core.errors import InputError

__all__ = ["MAX_UPLOAD_BYTES", "MAX_UPLOAD_PIXELS", "MAX_DECODED_BYTES", "LATENT_BYTES", "check_upload_image",
           "decoded_bytes", "read_limited", "upload_name", "Uploads"]

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_UPLOAD_PIXELS = 25_000_000  # a 24-megapixel camera photo fits
MAX_DECODED_BYTES = 75_000_000  # 25 megapixels of 8-bit RGB
LATENT_BYTES = 64 * 1024 * 1024
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}  # JPEG frame headers


def _upload_suffix(data: bytes) -> str | None:
    """The suffix the studio decodes an upload with, by its signature: PNG, JPEG, WebP or BMP; None otherwise."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return ".png"
    if data[:3] == b"\xff\xd8\xff":
        return ".jpg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return ".bmp" if data[:2] == b"BM" else None


def _jpeg_samples(data: bytes) -> tuple[int, int]:
    """(components, bytes per sample) from a JPEG's frame header; (4, 2), the most, if none is found."""
    i = 2
    while i + 9 < len(data) and data[i] == 0xFF:
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in _SOF:
            return data[i + 9], 2 if data[i + 4] > 8 else 1
        i += 2 + length
    return 4, 2


def _samples(data: bytes, suffix: str) -> tuple[int, int]:
    """(channels, bytes per sample) an upload decodes to, from its header; the most it can be where unsure."""
    if suffix == ".png" and len(data) >= 26:
        depth, colour = data[24], data[25]
        return {0: 1, 2: 3, 3: 4, 4: 2, 6: 4}.get(colour, 4), 2 if depth == 16 else 1
    if suffix == ".jpg":
        return _jpeg_samples(data)
    if suffix == ".bmp" and len(data) >= 30:
        return (4 if struct.unpack("<H", data[28:30])[0] == 32 else 3), 1
    return 4, 1  # WebP: 8-bit, with or without alpha


def decoded_bytes(data: bytes, width: int, height: int, suffix: str) -> int:
    """Bytes of the decoded pixels: width x height x channels x bytes per sample, by the header."""
    channels, depth = _samples(data, suffix)
    return width * height * channels * depth


def check_upload_image(data: bytes, name: str = "upload", max_bytes: int = MAX_UPLOAD_BYTES,
                       max_pixels: int = MAX_UPLOAD_PIXELS, max_decoded: int = MAX_DECODED_BYTES) -> str:
    """Refuse an upload before decoding it: too many bytes, not a PNG/JPEG/WebP/BMP, too many pixels by its
    header (``projector.images.image_size``: a decompression bomb), or too many decoded bytes (pixels x
    channels x bit depth). Returns the file suffix to decode it with."""
    if not data:
        raise InputError(f"{name}: empty file")
    if len(data) > max_bytes:
        raise InputError(f"{name}: {len(data) / 2**20:.1f} MiB is over the upload limit of {max_bytes / 2**20:.0f} MiB")
    suffix = _upload_suffix(data)
    if suffix is None:
        raise InputError(f"{name}: not an image the studio reads (PNG, JPEG, WebP or BMP)")
    buffer = io.BytesIO(data)
    try:
        w, h = image_size(buffer)
    except InputError as err:
        raise InputError(str(err).replace(str(buffer), name)) from None
    if w < 1 or h < 1:
        raise InputError(f"{name}: image header says {w}x{h} pixels")
    if w * h > max_pixels:
        raise InputError(f"{name}: {w}x{h} = {w * h / 1e6:.0f} megapixels is over the limit of "
                         f"{max_pixels / 1e6:.0f}; refused before decoding")
    size = decoded_bytes(data, w, h, suffix)
    if size > max_decoded:
        channels, depth = _samples(data, suffix)
        raise InputError(f"{name}: {w}x{h} pixels of {channels} x {8 * depth}-bit channels decode to "
                         f"{size / 1e6:.0f} MB, over the limit of {max_decoded / 1e6:.0f} MB; refused before "
                         "decoding")
    return suffix


async def read_limited(request, limit: int, name: str) -> bytes:
    """The request body, or an ``InputError`` once it passes ``limit`` bytes.

    An oversized body is still read to its end (and dropped), so the browser gets the message rather
    than a reset connection.
    """
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        else:
            chunks = []
    if size > limit:
        raise InputError(f"{name}: {size / 2**20:.1f} MiB is over the upload limit of {limit / 2**20:.0f} MiB")
    return b"".join(chunks)


def upload_name(request, default: str) -> str:
    """The upload's file name as the page sent it (``X-Filename``), reduced to a safe stem."""
    return safe_name(unquote(request.headers.get("x-filename", default)), default)


class Uploads:
    """Uploads become short-lived private files under ``outdir/.uploads``; photos decode one at a time."""

    def __init__(self, outdir, decoding_at_once: int = 1):
        self.folder = Path(outdir) / ".uploads"
        self.decoding = threading.BoundedSemaphore(decoding_at_once)

    def use(self, data: bytes, suffix: str, name: str, use, photo: bool = False):
        """Write ``data`` to a file of its own folder (nothing beside it), run ``use(path)``, delete both.

        ``photo``: wait for the decoding semaphore first. Errors name the upload (``name``), not the file."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.folder) as folder:
            path = Path(folder) / f"upload{suffix}"
            path.write_bytes(data)
            try:
                if not photo:
                    return use(path)
                with self.decoding:
                    return use(path)
            except InputError as err:
                raise InputError(str(err).replace(str(path), name)) from None
