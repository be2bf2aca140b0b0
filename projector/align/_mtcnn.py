"""MTCNN face detector: the three networks and the P-Net -> R-Net -> O-Net cascade.

Layer names and shapes match the facenet-pytorch state_dicts shipped in ``weights/``,
which load strictly. Those weights were converted from the original MTCNN models and
take plain NCHW images; the dense layers flatten in (W, H, C) order, as the originals
did. Box arithmetic follows the reference MTCNN: boxes are inclusive pixel ranges in
1-based coordinates, landmarks come out 0-based (pixel centres at integers).
"""

import functools
import logging
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

logger = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).parent / "weights"

MIN_FACE_SIZE = 20
SCALE_FACTOR = 0.709
THRESHOLDS = (0.6, 0.7, 0.7)


class PNet(nn.Module):
    """Proposal network: fully convolutional, one 12x12 window per output cell (stride 2)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, kernel_size=3)
        self.prelu1 = nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(10, 16, kernel_size=3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (box regression [N, 4, h, w], face probability [N, h, w])."""
        x = self.prelu1(self.conv1(x))
        x = self.pool1(x)
        x = self.prelu2(self.conv2(x))
        x = self.prelu3(self.conv3(x))
        return self.conv4_2(x), torch.softmax(self.conv4_1(x), dim=1)[:, 1]


class RNet(nn.Module):
    """Refinement network on 24x24 crops."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, kernel_size=3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(28, 48, kernel_size=3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(48, 64, kernel_size=2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (box regression [N, 4], face probability [N])."""
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        x = self.prelu4(self.dense4(x.permute(0, 3, 2, 1).flatten(1)))
        return self.dense5_2(x), torch.softmax(self.dense5_1(x), dim=1)[:, 1]


class ONet(nn.Module):
    """Output network on 48x48 crops: final box, probability and five landmarks."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> (box regression [N, 4], landmarks [N, 10] as five x then five y, probability [N])."""
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(x.permute(0, 3, 2, 1).flatten(1)))
        return self.dense6_2(x), self.dense6_3(x), torch.softmax(self.dense6_1(x), dim=1)[:, 1]


@functools.cache
def networks(device: str = "cpu") -> tuple[PNet, RNet, ONet]:
    """The three networks with their shipped weights, built once per device."""
    nets = []
    for cls, name in ((PNet, "pnet"), (RNet, "rnet"), (ONet, "onet")):
        net = cls()
        state = torch.load(WEIGHTS_DIR / f"{name}.pt", map_location="cpu", weights_only=True)
        net.load_state_dict(state, strict=True)
        nets.append(net.eval().requires_grad_(False).to(device))
    logger.info("loaded MTCNN weights from %s onto %s", WEIGHTS_DIR, device)
    return tuple(nets)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union") -> np.ndarray:
    """Greedy non-maximum suppression; returns kept indices, best score first.

    Boxes are inclusive pixel ranges ``[x0, y0, x1, y1]`` (area counts the +1), as in
    MTCNN. ``mode="union"`` compares intersection over union, ``"min"`` intersection
    over the smaller area. A box is dropped when its overlap exceeds ``threshold``.
    """
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    x0, y0, x1, y1 = (boxes[:, k].astype(np.float64) for k in range(4))
    area = (x1 - x0 + 1) * (y1 - y0 + 1)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        iw = np.maximum(0.0, np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]) + 1)
        ih = np.maximum(0.0, np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]) + 1)
        inter = iw * ih
        if mode == "min":
            overlap = inter / np.minimum(area[i], area[rest])
        elif mode == "union":
            overlap = inter / (area[i] + area[rest] - inter)
        else:
            raise ValueError(f"unknown NMS mode {mode!r}")
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.int64)


def _normalise(pixels: np.ndarray) -> torch.Tensor:
    """HWC or NHWC float pixels in [0, 255] -> NCHW network input."""
    x = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32))
    if x.ndim == 3:
        x = x[None]
    return (x.permute(0, 3, 1, 2) - 127.5) * 0.0078125


def _square(boxes: np.ndarray) -> np.ndarray:
    """Grow each box to a square around its centre (``rerec``)."""
    boxes = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    boxes[:, 0] += w * 0.5 - side * 0.5
    boxes[:, 1] += h * 0.5 - side * 0.5
    boxes[:, 2:4] = boxes[:, 0:2] + side[:, None]
    return boxes


def _regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Apply box regression offsets (fractions of the inclusive width and height)."""
    boxes = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    boxes[:, 0:4] += reg[:, 0:4] * np.stack([w, h, w, h], axis=1)
    return boxes


def _crops(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Cut integer boxes out of the image, zero outside it, resized to size x size -> [N, size, size, 3]."""
    height, width = image.shape[:2]
    out = np.empty((len(boxes), size, size, 3), np.float32)
    for k, (x0, y0, x1, y1) in enumerate(boxes[:, :4].astype(np.int64)):
        tile = np.zeros((y1 - y0 + 1, x1 - x0 + 1, 3), np.float32)
        sx0, sy0 = max(x0 - 1, 0), max(y0 - 1, 0)
        sx1, sy1 = min(x1, width), min(y1, height)
        if sx1 > sx0 and sy1 > sy0:
            tile[sy0 - (y0 - 1) : sy1 - (y0 - 1), sx0 - (x0 - 1) : sx1 - (x0 - 1)] = image[sy0:sy1, sx0:sx1]
        out[k] = cv2.resize(tile, (size, size), interpolation=cv2.INTER_AREA)
    return out


def _proposals(image: np.ndarray, pnet: PNet, device: str) -> np.ndarray:
    """Stage 1: P-Net over an image pyramid -> candidate boxes ``[x0, y0, x1, y1, score]``."""
    height, width = image.shape[:2]
    scale = 12.0 / MIN_FACE_SIZE
    side = min(height, width) * scale
    candidates = []
    while side >= 12:
        hs, ws = int(np.ceil(height * scale)), int(np.ceil(width * scale))
        resized = cv2.resize(image, (ws, hs), interpolation=cv2.INTER_AREA)
        reg, prob = pnet(_normalise(resized).to(device))
        reg, prob = reg[0].cpu().numpy(), prob[0].cpu().numpy()
        ys, xs = np.nonzero(prob >= THRESHOLDS[0])
        if len(ys):
            cells = np.stack([xs, ys], axis=1).astype(np.float64)
            top_left = np.floor((2 * cells + 1) / scale)
            bottom_right = np.floor((2 * cells + 12) / scale)
            boxes = np.concatenate([top_left, bottom_right, prob[ys, xs, None], reg[:, ys, xs].T], axis=1)
            candidates.append(boxes[nms(boxes[:, :4], boxes[:, 4], 0.5)])
        scale *= SCALE_FACTOR
        side *= SCALE_FACTOR
    if not candidates:
        return np.zeros((0, 5))
    boxes = np.concatenate(candidates)
    boxes = boxes[nms(boxes[:, :4], boxes[:, 4], 0.7)]
    # Stage-1 regression uses the exclusive width, as the reference does.
    w = (boxes[:, 2] - boxes[:, 0])[:, None]
    h = (boxes[:, 3] - boxes[:, 1])[:, None]
    refined = boxes[:, 0:4] + boxes[:, 5:9] * np.concatenate([w, h, w, h], axis=1)
    return _square(np.concatenate([refined, boxes[:, 4:5]], axis=1))


@torch.inference_mode()
def detect(image: np.ndarray, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Run the cascade on an HWC RGB image.

    Returns ``boxes`` [N, 5] (``x0, y0, x1, y1`` 1-based inclusive, then the O-Net
    probability) and ``landmarks`` [N, 5, 2] in 0-based pixel coordinates, in the
    network's order: image-left eye, image-right eye, nose, left and right mouth corner.
    """
    pnet, rnet, onet = networks(str(device))
    pixels = np.asarray(image, dtype=np.float32)
    boxes = _proposals(pixels, pnet, device)
    logger.debug("P-Net: %d candidates", len(boxes))

    if len(boxes):
        boxes[:, :4] = np.trunc(boxes[:, :4])
        reg, prob = rnet(_normalise(_crops(pixels, boxes, 24)).to(device))
        reg, prob = reg.cpu().numpy(), prob.cpu().numpy()
        passed = prob > THRESHOLDS[1]
        boxes = np.concatenate([boxes[passed, :4], prob[passed, None]], axis=1)
        reg = reg[passed]
        pick = nms(boxes[:, :4], boxes[:, 4], 0.7)
        boxes = _square(_regress(boxes[pick], reg[pick]))
        logger.debug("R-Net: %d candidates", len(boxes))

    if not len(boxes):
        return np.zeros((0, 5)), np.zeros((0, 5, 2))

    boxes[:, :4] = np.trunc(boxes[:, :4])
    reg, points, prob = onet(_normalise(_crops(pixels, boxes, 48)).to(device))
    reg, points, prob = reg.cpu().numpy(), points.cpu().numpy(), prob.cpu().numpy()
    passed = prob > THRESHOLDS[2]
    boxes = np.concatenate([boxes[passed, :4], prob[passed, None]], axis=1)
    reg, points = reg[passed], points[passed]
    w = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
    h = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
    landmarks = np.stack([w * points[:, 0:5] + boxes[:, 0:1] - 1, h * points[:, 5:10] + boxes[:, 1:2] - 1], axis=2)
    boxes = _regress(boxes, reg)
    pick = nms(boxes[:, :4], boxes[:, 4], 0.7, mode="min")
    logger.debug("O-Net: %d faces", len(pick))
    return boxes[pick], landmarks[pick]
