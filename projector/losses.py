"""Perceptual distances for the projector, and the StyleGAN2 noise regulariser.

Two distances share one calling convention (``dist(a, b) -> [N]`` for NCHW float32
images in [-1, 1]):

* ``LpipsVGG``: LPIPS VGG16 v0.1 from the ``lpips`` package, the distance the official
  StyleGAN2 projector minimises. It needs torchvision's ImageNet VGG16 weights in torch's
  hub cache; ``make_perceptual`` fetches them when it may, otherwise
* ``EffNetPerceptual``: an LPIPS-style distance on the EfficientNet-Lite0 weights that
  ship as a pip package, so it always works offline.
"""

from __future__ import annotations

import importlib
import logging
import re
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import nn

from stylegan2_core.errors import InputError, S2EditError, ShapeError
from stylegan2_core.fileio import download

from ._efficientnet_lite import (
    DEFAULT_FEATURE_BLOCKS,
    EfficientNetLite0,
    load_efficientnet_lite0,
)

__all__ = [
    "PerceptualDistance",
    "EffNetPerceptual",
    "LpipsVGG",
    "lpips_weights_available",
    "vgg16_weights_path",
    "make_perceptual",
    "noise_regularizer",
]

logger = logging.getLogger(__name__)

VGG16_FILE = "vgg16-397923af.pth"
VGG16_URL = f"https://download.pytorch.org/models/{VGG16_FILE}"
VGG16_SHA256 = "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0"  # its name carries the first 8
_DOWNLOAD_TIMEOUT_S = 10.0


@runtime_checkable
class PerceptualDistance(Protocol):
    """``dist(a, b) -> [N]``: one distance per image pair; NCHW float32 images in [-1, 1]."""

    name: str

    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor: ...


def _check_pair(a: torch.Tensor, b: torch.Tensor, min_size: int) -> None:
    if a.ndim != 4 or a.shape[1] != 3:
        raise ShapeError(f"expected NCHW RGB images, got shape {tuple(a.shape)}")
    if a.shape != b.shape:
        raise ShapeError(f"image shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    if min(a.shape[-2:]) < min_size:
        raise ShapeError(f"images must be at least {min_size}x{min_size}, got {tuple(a.shape[-2:])}")


# --------------------------------------------------------------------------- EfficientNet


class EffNetPerceptual(nn.Module):
    """LPIPS-style distance on EfficientNet-Lite0 features, no learned weights.

    For each tapped block (by default the last block at strides 2, 4, 8, 16, 32) the
    feature vector at every position is scaled to unit length along channels; the layer
    distance is the spatial mean of the squared difference summed over channels, and the
    result is the mean over layers. Unit vectors put every layer's term in [0, 4] whatever
    its channel count, so the layers weigh equally.

    Any size from 32 px up works. Images whose short side is under ``min_size`` (128) are
    first upsampled bilinearly to that short side: at 32 px the stride-32 features would
    be a single position. Large images are used as they are; callers that want a fixed
    working size (the official projector uses 256) downsample before calling.
    Differentiable with respect to both inputs; the network itself is frozen.
    """

    name = "effnet"

    def __init__(
        self,
        device: str | torch.device = "cpu",
        layers: Sequence[int] = DEFAULT_FEATURE_BLOCKS,
        min_size: int = 128,
        net: EfficientNetLite0 | None = None,
    ):
        super().__init__()
        self.net = net if net is not None else load_efficientnet_lite0(device)
        self.layers = tuple(layers)
        self.min_size = min_size

    def _resize(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if min(h, w) >= self.min_size:
            return x
        scale = self.min_size / min(h, w)
        size = (max(self.min_size, round(h * scale)), max(self.min_size, round(w * scale)))
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)

    def embed(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Channel-unit-normalised feature maps; ``distance`` compares two of these.

        Lets a caller embed a fixed target once instead of at every step.
        """
        feats = self.net.features(self._resize(images), self.layers)
        return [f / (f.square().sum(dim=1, keepdim=True).sqrt() + 1e-10) for f in feats]

    @staticmethod
    def distance(fa: list[torch.Tensor], fb: list[torch.Tensor]) -> torch.Tensor:
        """``[N]`` distances between two ``embed`` results."""
        per_layer = [(a - b).square().sum(dim=1).mean(dim=(1, 2)) for a, b in zip(fa, fb, strict=True)]
        return torch.stack(per_layer).mean(dim=0)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        _check_pair(a, b, 32)
        n = a.shape[0]
        both = self.embed(torch.cat([a, b]))
        return self.distance([f[:n] for f in both], [f[n:] for f in both])


# --------------------------------------------------------------------------- LPIPS / VGG16

_lpips_schema_lib: torch.library.Library | None = None

# Schemas of the torchvision operators that torchvision._meta_registrations decorates
# with ``torch.library.register_fake`` unconditionally, i.e. even when the compiled
# ``_C`` extension (which normally defines them) failed to load.
_TORCHVISION_FAKE_ONLY_OPS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_MISSING_OP = re.compile(r"operator torchvision::(\w+) does not exist")


def _import_lpips():
    """``import lpips``, tolerating a torchvision whose compiled ops cannot load.

    When torchvision's ``_C`` extension does not match the installed torch (e.g. a CUDA
    build of torchvision next to a CPU torch) torchvision skips its compiled ops, but
    ``torchvision/_meta_registrations.py`` still registers fake (meta) kernels for
    ``torchvision::nms`` and ``torchvision::qnms``, and registering a kernel for an
    operator that was never defined raises "operator torchvision::nms does not exist".
    That aborts ``import torchvision`` and with it ``import lpips``.

    The workaround defines just those two operator schemas (no kernels) so the fake
    registrations succeed, drops the half-imported modules and imports again. Nothing
    of torchvision is modified: its Python models (VGG16, which LPIPS uses) work as
    usual, and its compiled ops (nms, roi_align...) still report that they are
    unavailable, exactly as after any failed ``_C`` load. Any other import error
    propagates unchanged.
    """
    global _lpips_schema_lib
    try:
        return importlib.import_module("lpips")
    except RuntimeError as exc:
        match = _MISSING_OP.search(str(exc))
        if match is None or match.group(1) not in _TORCHVISION_FAKE_ONLY_OPS:
            raise
        logger.debug("torchvision compiled ops unavailable (%s); defining their schemas", exc)
    for name in [m for m in sys.modules if m.split(".")[0] in ("torchvision", "lpips")]:
        del sys.modules[name]
    if _lpips_schema_lib is None:
        lib = torch.library.Library("torchvision", "FRAGMENT")
        for op, schema in _TORCHVISION_FAKE_ONLY_OPS.items():
            if not hasattr(torch.ops.torchvision, op):
                lib.define(schema)
        _lpips_schema_lib = lib  # the definitions live as long as this object
    return importlib.import_module("lpips")


def vgg16_weights_path() -> Path:
    """Where torchvision (and so LPIPS) looks for the ImageNet VGG16 weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG16_FILE


def lpips_weights_available() -> bool:
    """Whether the VGG16 weights LPIPS needs are in torch's hub cache (no network)."""
    return vgg16_weights_path().is_file()


def _check_torch_file(path) -> None:
    """A torch checkpoint starts with a pickle (legacy) or zip header; an HTML error page does not."""
    with open(path, "rb") as f:
        head = f.read(4)
    if not (head[:1] == b"\x80" or head[:2] == b"PK"):
        raise InputError(f"the server sent something other than a torch checkpoint (starts with {head!r})")


def _fetch_vgg16_weights(timeout: float = _DOWNLOAD_TIMEOUT_S) -> Path:
    """Download the VGG16 weights into the hub cache; ``S2EditError`` if that fails.

    ``stylegan2_core.fileio.download`` does the work: every socket operation has ``timeout`` seconds,
    and the file is checked against its sha256 and its header before it is moved into place, so a
    truncated, corrupt or HTML download is never cached.
    """
    dst = vgg16_weights_path()
    logger.info("downloading %s to %s", VGG16_URL, dst)
    try:
        return download(VGG16_URL, sha256=VGG16_SHA256, timeout=timeout, validate=_check_torch_file, target=dst)
    except S2EditError as exc:
        raise S2EditError(
            f"VGG16 weights for LPIPS are not cached and could not be downloaded ({exc}); "
            f"place {VGG16_FILE} (from {VGG16_URL}) at {dst}"
        ) from exc


class LpipsVGG(nn.Module):
    """LPIPS VGG16 v0.1 (``lpips`` package): the official StyleGAN2 projector's distance.

    The linear-layer weights ship inside ``lpips``; the VGG16 backbone weights must be in
    torch's hub cache (``vgg16_weights_path()``), or be downloaded there when
    ``allow_download`` is set. Works at any size from 32 px up; the official projector
    feeds it 256 px images.
    """

    name = "lpips"

    def __init__(self, device: str | torch.device = "cpu", allow_download: bool = False):
        super().__init__()
        if not lpips_weights_available():
            if not allow_download:
                raise S2EditError(
                    f"VGG16 weights for LPIPS not found; place {VGG16_FILE} (from {VGG16_URL}) "
                    f"at {vgg16_weights_path()}"
                )
            _fetch_vgg16_weights()
        lpips = _import_lpips()
        with warnings.catch_warnings():
            # lpips 0.1.4 calls vgg16(pretrained=True), deprecated in torchvision but equivalent.
            warnings.filterwarnings("ignore", category=UserWarning, module=r"torchvision\.models\._utils")
            self.model = lpips.LPIPS(net="vgg", version="0.1", verbose=False)
        self.model.eval().requires_grad_(False)
        self.model.to(device)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        _check_pair(a, b, 32)
        return self.model(a, b).flatten()


# --------------------------------------------------------------------------- selection


def make_perceptual(
    kind: str = "auto", device: str | torch.device = "cpu", allow_download: bool = True
) -> tuple[PerceptualDistance, str | None]:
    """Build a perceptual distance; returns it and a one-line notice (or ``None``).

    ``'lpips'``: LPIPS VGG16, downloading its backbone weights when they are not cached and
    ``allow_download`` is set, else an ``S2EditError`` saying where to put them. ``'effnet'``:
    the offline EfficientNet-Lite0 distance. ``'auto'``: LPIPS when its weights are cached,
    else EfficientNet-Lite0 and a one-line notice; ``auto`` never touches the network, so
    it never waits on one.
    """
    if kind == "lpips":
        return LpipsVGG(device, allow_download=allow_download), None
    if kind == "effnet":
        return EffNetPerceptual(device), None
    if kind != "auto":
        raise InputError(f"unknown perceptual distance {kind!r}: choose 'auto', 'lpips' or 'effnet'")
    if lpips_weights_available():
        return LpipsVGG(device, allow_download=False), None
    logger.info("LPIPS VGG16 weights not at %s; using EfficientNet-Lite0", vgg16_weights_path())
    notice = "LPIPS weights not cached: using the offline EfficientNet-Lite0 distance (--loss lpips downloads them)"
    return EffNetPerceptual(device), notice


# --------------------------------------------------------------------------- noise


def noise_regularizer(noise_maps: Sequence[torch.Tensor]) -> torch.Tensor:
    """The official StyleGAN2 projector's noise regularisation, one term per sample.

    For each ``[N, 1, H, W]`` (or ``[1, 1, H, W]``) map and then each 2x average-pooled
    version of it down to 8 px: add the squared mean autocorrelation at a one-pixel
    shift along x and along y (wrapping around). Means are over each sample's own pixels,
    so a batch of projections gets independent terms; returns ``[N]`` (``[1]`` when every
    map has batch 1). For a single sample it equals the official scalar.
    """
    if not noise_maps:
        raise ShapeError("noise_regularizer needs at least one noise map")
    reg = None
    for noise in noise_maps:
        if noise.ndim != 4 or noise.shape[1] != 1:
            raise ShapeError(f"expected [N, 1, H, W] noise maps, got shape {tuple(noise.shape)}")
        v = noise
        while True:
            term = (v * v.roll(1, dims=3)).mean(dim=(1, 2, 3)).square()
            term = term + (v * v.roll(1, dims=2)).mean(dim=(1, 2, 3)).square()
            reg = term if reg is None else reg + term
            if v.shape[2] <= 8:
                break
            v = F.avg_pool2d(v, kernel_size=2)
    return reg
