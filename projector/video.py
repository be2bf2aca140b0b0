"""Video output: stream rendered frames to H.264 mp4 (or GIF) without holding them all.

mp4 goes through imageio's ffmpeg plugin (libx264, yuv420p, so odd frame sizes are padded
to even by repeating the last row/column); GIF through imageio-ffmpeg with a palette built
from the whole clip. Files are written under a temporary name and renamed when complete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch

from stylegan2_core.errors import InputError
from stylegan2_core.fileio import atomic_path
from stylegan2_core.image import to_uint8

from .images import image_grid

__all__ = ["VIDEO_SUFFIXES", "VideoWriter", "render_video", "parse_grid"]

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".gif")
_GIF_FILTER = "split[a][b];[a]palettegen[p];[b][p]paletteuse"
FFMPEG_LOG_LEVEL = "error"  # ffmpeg prints only real failures; its warnings are chatter for our users


class VideoWriter:
    """Context manager: ``append`` NHWC (or HWC) uint8 frames; the format follows the suffix.

    ``quality`` is imageio's 0-10 scale for H.264. Frames go to a fresh temporary file beside
    ``path`` that replaces ``path`` at the end (a symlink there is replaced, not written through);
    on an exception inside the ``with`` block it is removed and ``path`` is left untouched.
    """

    def __init__(self, path, fps: float = 30, quality: float = 8, codec: str = "libx264"):
        self.path = Path(path)
        if self.path.suffix.lower() not in VIDEO_SUFFIXES:
            raise InputError(f"{self.path}: unsupported video type; use one of {', '.join(VIDEO_SUFFIXES)}")
        if fps <= 0:
            raise InputError(f"fps must be positive, got {fps}")
        self.fps, self.quality, self.codec = fps, quality, codec
        self.is_gif = self.path.suffix.lower() == ".gif"
        self.frames_written = 0
        self.size: tuple[int, int] | None = None  # (height, width) of the frames as given
        self._tmp: Path | None = None
        self._target = None  # the atomic_path context that turns the temporary file into ``path``
        self._writer = None

    def __enter__(self) -> VideoWriter:
        self._target = atomic_path(self.path, suffix=f".partial{self.path.suffix}")
        self._tmp = self._target.__enter__()
        return self

    def _open(self, height: int, width: int) -> None:
        if self.is_gif:
            import imageio_ffmpeg

            self._writer = imageio_ffmpeg.write_frames(
                str(self._tmp), (width, height), fps=self.fps, codec="gif", pix_fmt_in="rgb24", pix_fmt_out="pal8",
                macro_block_size=1, output_params=["-filter_complex", _GIF_FILTER, "-loop", "0"],
                ffmpeg_log_level=FFMPEG_LOG_LEVEL)
            self._writer.send(None)
        else:
            import imageio

            self._writer = imageio.get_writer(str(self._tmp), fps=self.fps, codec=self.codec, quality=self.quality,
                                              macro_block_size=1, ffmpeg_log_level=FFMPEG_LOG_LEVEL)

    def append(self, frames: np.ndarray) -> None:
        """Write one HWC frame or a batch of NHWC frames (uint8 RGB, all the same size)."""
        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise InputError(f"{self.path}: frames must be NHWC uint8 RGB, got {frames.dtype} {list(frames.shape)}")
        size = tuple(frames.shape[1:3])
        if self.size is None:
            self.size = size
            self._open(*size)
        elif size != self.size:
            raise InputError(f"{self.path}: frame size {size} differs from the first frame's {self.size}")
        if not self.is_gif:
            h, w = size
            frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        for frame in frames:
            if self.is_gif:
                self._writer.send(np.ascontiguousarray(frame))
            else:
                self._writer.append_data(frame)
        self.frames_written += len(frames)

    def __exit__(self, exc_type, exc, tb) -> None:
        writer, self._writer = self._writer, None
        try:
            if writer is not None:
                writer.close()
            if exc_type is None and not self.frames_written:
                raise InputError(f"{self.path}: no frames to write")
        except BaseException as err:
            self._target.__exit__(type(err), err, err.__traceback__)
            raise
        self._target.__exit__(exc_type, exc, tb)


def _pixels(G, flat: torch.Tensor, batch_size: int, noise_mode: str) -> np.ndarray:
    return np.concatenate([to_uint8(G.synthesis(chunk, noise_mode=noise_mode)) for chunk in flat.split(batch_size)])


def _moved_pixels(G, flat: torch.Tensor, cells: int, moves: np.ndarray, batch_size: int, noise_mode: str
                  ) -> np.ndarray:
    """Each frame's cells drawn under that frame's image transform (x, y, degrees): StyleGAN3 only."""
    from .generate import image_transform

    if len(moves) * cells != len(flat):
        raise InputError(f"{len(flat) // cells} frames but {len(moves)} image transforms: one per frame")
    frames = []
    for frame, (x, y, degrees) in zip(flat.split(cells), moves):
        with image_transform(G, (float(x), float(y)), float(degrees)):
            frames.append(_pixels(G, frame, batch_size, noise_mode))
    return np.concatenate(frames)


@torch.no_grad()
def render_video(G, ws_iter: Iterable[torch.Tensor], path, batch_size: int = 8, noise_mode: str = "const",
                 progress: Callable[[int], None] | None = None, fps: float = 30,
                 grid: tuple[int, int] | None = None, quality: float = 8, moves: np.ndarray | None = None) -> int:
    """Render ws batches into a video and return the number of frames written.

    ``ws_iter`` yields [B, num_ws, w_dim] (one image per frame) or [B, cells, num_ws, w_dim]
    (``grid`` = (columns, rows) with columns·rows = cells, default one row). Images are
    synthesized ``batch_size`` at a time; ``progress(n)`` is called after every n frames written.
    ``moves`` [frames, 3]: StyleGAN3 only, frame i translated by (x, y) image widths and rotated by the
    degrees in row i (``projector.generate.image_transform``).
    """
    device = G.mapping.w_avg.device
    with VideoWriter(path, fps=fps, quality=quality) as writer:
        for ws in ws_iter:
            cells = ws.shape[1] if ws.ndim == 4 else 1
            layout = grid or (cells, 1)
            if layout[0] * layout[1] != cells:
                raise InputError(f"grid {layout[0]}x{layout[1]} does not match {cells} cells per frame")
            flat = ws.reshape(-1, G.num_ws, G.w_dim).to(device)
            if moves is None:
                pixels = _pixels(G, flat, batch_size, noise_mode)
            else:
                first = writer.frames_written
                pixels = _moved_pixels(G, flat, cells, moves[first:first + len(flat) // cells], batch_size,
                                       noise_mode)
            cells = layout[0] * layout[1]
            frames = np.stack([image_grid(pixels[i:i + cells], *layout) for i in range(0, len(pixels), cells)])
            writer.append(frames)
            if progress is not None:
                progress(len(frames))
    return writer.frames_written


def parse_grid(text: str) -> tuple[int, int]:
    """``"2x3"`` -> (2 columns, 3 rows)."""
    parts = str(text).lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise InputError(f"bad --grid {text!r}: expected COLUMNSxROWS, e.g. 2x2")
    return int(parts[0]), int(parts[1])
