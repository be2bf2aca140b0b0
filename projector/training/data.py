"""Real images for training: an image folder, a zip of images, or the procedural world.

Every source is addressed by a global sample index, so the batch of any step on any
process is a pure function of (seed, step, rank): resuming needs no data-loader state.
Folder and zip images of any size are center-cropped to a square and resized to the
training resolution with OpenCV's INTER_AREA.
"""

from __future__ import annotations

import itertools
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import torch

from stylegan2_core.errors import InputError
from stylegan2_core.image import from_uint8

from ..images import IMAGE_SUFFIXES

__all__ = ["ImageFiles", "WorldImages", "open_source", "prepare_image", "RealStream"]

_WORLD_BLOCK = 4096  # xflip draws for the infinite world are made this many samples at a time


def prepare_image(pixels: np.ndarray, resolution: int) -> np.ndarray:
    """HWC uint8 RGB of any size -> center square crop resized to ``resolution`` (INTER_AREA)."""
    h, w = pixels.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = pixels[top:top + side, left:left + side]
    if side != resolution:
        crop = cv2.resize(crop, (resolution, resolution), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(crop)


class ImageFiles:
    """The images of a folder (recursively) or a zip, in sorted path order."""

    def __init__(self, path: str | Path, resolution: int):
        self.path = Path(path)
        self.resolution = resolution
        self._zip = None
        self._zip_pid = None
        if self.path.is_dir():
            self.names = sorted(str(p.relative_to(self.path)) for p in self.path.rglob("*")
                                if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        elif self.path.is_file() and zipfile.is_zipfile(self.path):
            with zipfile.ZipFile(self.path) as zf:
                self.names = sorted(n for n in zf.namelist() if Path(n).suffix.lower() in IMAGE_SUFFIXES)
        else:
            raise InputError(f"training data {self.path}: not a folder or a zip file (or pass 'world')")
        if not self.names:
            raise InputError(f"training data {self.path}: no images ({', '.join(IMAGE_SUFFIXES)})")

    def __len__(self) -> int:
        return len(self.names)

    def _read(self, name: str) -> bytes:
        if self.path.is_dir():
            return (self.path / name).read_bytes()
        if self._zip is None or self._zip_pid != os.getpid():  # a forked loader worker opens its own handle
            self._zip, self._zip_pid = zipfile.ZipFile(self.path), os.getpid()
        return self._zip.read(name)

    def __getitem__(self, index: int) -> np.ndarray:
        name = self.names[index]
        bgr = cv2.imdecode(np.frombuffer(self._read(name), np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise InputError(f"training data {self.path}: cannot decode {name}")
        return prepare_image(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), self.resolution)


class WorldImages:
    """The procedural world as an endless source: index i is world seed ``start_seed + i``."""

    def __init__(self, resolution: int, start_seed: int = 0):
        self.resolution = resolution
        self.start_seed = start_seed

    def __getitem__(self, index: int) -> np.ndarray:
        from projector import world

        return world.render(self.start_seed + index, self.resolution)[0]


def open_source(data: str, resolution: int, world_start_seed: int = 0) -> ImageFiles | WorldImages:
    """``"world"`` or a path to an image folder / zip."""
    if str(data) == "world":
        return WorldImages(resolution, world_start_seed)
    return ImageFiles(data, resolution)


class RealStream:
    """Batches of real images for one process: NCHW float32 in [-1, 1].

    The stream is an endless sequence of sample indices: a finite source is visited in a
    fresh seeded permutation every epoch, the world in seed order. A step's global batch
    covers stream positions ``step * batch .. step * batch + batch - 1``; process ``rank``
    takes its contiguous share. With ``xflip`` each position is mirrored with probability 1/2.
    """

    def __init__(self, source, batch_size: int, seed: int = 0, rank: int = 0, world_size: int = 1,
                 xflip: bool = False):
        if batch_size % world_size:
            raise InputError(f"batch size {batch_size} is not divisible by the number of processes {world_size}")
        self.source = source
        self.batch_size = batch_size
        self.local_batch = batch_size // world_size
        self.seed = seed
        self.rank = rank
        self.xflip = xflip
        self._block = None  # (block index, permutation or None, flips)

    def _block_of(self, position: int) -> tuple[np.ndarray | None, np.ndarray, int]:
        size = len(self.source) if hasattr(self.source, "__len__") else _WORLD_BLOCK
        index = position // size
        if self._block is None or self._block[0] != index:
            rng = np.random.default_rng([self.seed, index])
            perm = rng.permutation(size) if hasattr(self.source, "__len__") else None
            flips = rng.random(size) < 0.5
            self._block = (index, perm, flips)
        return self._block[1], self._block[2], index * size

    def item(self, position: int) -> np.ndarray:
        """HWC uint8 image at stream ``position``."""
        perm, flips, start = self._block_of(position)
        offset = position - start
        pixels = self.source[int(perm[offset]) if perm is not None else position]
        if self.xflip and flips[offset]:
            pixels = np.ascontiguousarray(pixels[:, ::-1])
        return pixels

    def positions(self, step: int) -> list[int]:
        """Stream positions of this process's share of ``step``'s batch."""
        first = step * self.batch_size + self.rank * self.local_batch
        return list(range(first, first + self.local_batch))

    def batch(self, step: int) -> torch.Tensor:
        return from_uint8(np.stack([self.item(p) for p in self.positions(step)]))

    def batches(self, start_step: int, workers: int = 0) -> Iterator[tuple[int, torch.Tensor]]:
        """``(step, batch(step))`` for ``start_step, start_step + 1, ...``.

        With ``workers`` > 0 the images are rendered or decoded by that many background
        processes a few steps ahead of the training loop, so a GPU does not wait for them;
        the batches are the same either way.
        """
        if workers <= 0:
            for step in itertools.count(start_step):
                yield step, self.batch(step)
            return
        loader = torch.utils.data.DataLoader(_StreamItems(self), batch_sampler=_StepPositions(self, start_step),
                                             num_workers=workers, collate_fn=_stack)
        for step, pixels in zip(itertools.count(start_step), loader):
            yield step, from_uint8(pixels.numpy())


class _StreamItems(torch.utils.data.Dataset):
    """Stream position -> HWC uint8 image, for loader workers."""

    def __init__(self, stream: RealStream):
        self.stream = stream

    def __getitem__(self, position: int) -> np.ndarray:
        return self.stream.item(position)


class _StepPositions:
    """The loader's batch sampler: the positions of successive steps, without end."""

    def __init__(self, stream: RealStream, start_step: int):
        self.stream, self.start_step = stream, start_step

    def __iter__(self):
        for step in itertools.count(self.start_step):
            yield self.stream.positions(step)


def _stack(images: list[np.ndarray]) -> torch.Tensor:
    """NHWC uint8: a quarter of the float batch's size in the shared memory between processes."""
    return torch.from_numpy(np.stack(images))
