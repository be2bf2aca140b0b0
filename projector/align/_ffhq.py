"""FFHQ crop geometry, the warp to the aligned square and the inverse paste.

Coordinates are pixel indices with the centre of the top-left pixel at (0, 0), the
convention of the landmarks and of OpenCV's warps. The quad is the one of the FFHQ
``recreate_aligned_images`` recipe; its PIL ``QUAD`` transform (corners shifted by half
a pixel) maps ``quad[0]`` to the output's outer top-left corner, i.e. index
(-0.5, -0.5), which ``quad_transform`` reproduces exactly. Instead of warping to
4096 pixels and downsampling, large inputs are first area-downsampled so that the quad
spans about the output size, then warped once with Lanczos interpolation.
"""

import logging

import cv2
import numpy as np

from stylegan2_core.errors import InputError

logger = logging.getLogger(__name__)


def ffhq_quad(landmarks: np.ndarray) -> np.ndarray:
    """Five landmarks (left eye, right eye, nose, left and right mouth corner) -> quad [4, 2].

    Corners in order top-left, bottom-left, bottom-right, top-right of the aligned image.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    eye_left, eye_right, mouth_left, mouth_right = lm[0], lm[1], lm[3], lm[4]
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    mouth_avg = (mouth_left + mouth_right) * 0.5
    eye_to_mouth = mouth_avg - eye_avg

    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def quad_transform(quad: np.ndarray, size: int) -> np.ndarray:
    """3x3 affine matrix taking source pixel coordinates to the aligned size x size image."""
    src = np.concatenate([np.asarray(quad, dtype=np.float64)[[0, 1, 3]], np.ones((3, 1))], axis=1)
    lo, hi = -0.5, size - 0.5
    dst = np.array([[lo, lo], [lo, hi], [hi, lo]])
    matrix = np.eye(3)
    matrix[:2] = np.linalg.solve(src, dst).T
    return matrix


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 3x3 affine matrix to points [..., 2]."""
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:2, :2].T + matrix[:2, 2]


def _translation(dx: float, dy: float) -> np.ndarray:
    matrix = np.eye(3)
    matrix[:2, 2] = dx, dy
    return matrix


def warp_face(image: np.ndarray, quad: np.ndarray, size: int) -> np.ndarray:
    """Cut the quad out of an HWC uint8 image into a size x size aligned image (FFHQ recipe)."""
    quad = np.asarray(quad, dtype=np.float64)
    transform = quad_transform(quad, size)
    qsize = np.hypot(*(quad[3] - quad[0]))
    height, width = image.shape[:2]

    # Shrink: area-downsample big faces so the warp below never minifies.
    shrink = max(qsize / size, 1.0)
    border = max(int(np.rint(qsize / shrink * 0.1)), 3)

    # Crop: the quad's bounding box plus a border, inside the image.
    margin = border * shrink
    x0 = max(int(np.floor(quad[:, 0].min() - margin)), 0)
    y0 = max(int(np.floor(quad[:, 1].min() - margin)), 0)
    x1 = min(int(np.ceil(quad[:, 0].max() + margin)), width)
    y1 = min(int(np.ceil(quad[:, 1].max() + margin)), height)
    if x1 <= x0 or y1 <= y0:
        raise InputError("the face's crop lies outside the image")
    work = image[y0:y1, x0:x1].astype(np.float32)
    to_work = _translation(-x0, -y0)
    if shrink > 1.0:
        new_w = max(int(np.rint((x1 - x0) / shrink)), 1)
        new_h = max(int(np.rint((y1 - y0) / shrink)), 1)
        sx, sy = (x1 - x0) / new_w, (y1 - y0) / new_h
        work = cv2.resize(work, (new_w, new_h), interpolation=cv2.INTER_AREA)
        scale = np.diag([1 / sx, 1 / sy, 1.0])
        to_work = _translation(-0.5, -0.5) @ scale @ _translation(0.5, 0.5) @ to_work
        logger.info("face spans %.0f px; downsampled by %.2f before warping", qsize, shrink)
    wquad = apply(to_work, quad)
    wqsize = qsize / shrink

    # Pad: reflect where the quad leaves the image, blur and fade the padding to the median colour.
    h, w = work.shape[:2]
    pad = np.array([
        max(-int(np.floor(wquad[:, 0].min())) + border, 0),
        max(-int(np.floor(wquad[:, 1].min())) + border, 0),
        max(int(np.ceil(wquad[:, 0].max())) - w + border, 0),
        max(int(np.ceil(wquad[:, 1].max())) - h + border, 0),
    ])
    if pad.max() > border - 4:
        pad = np.maximum(pad, int(np.rint(wqsize * 0.3)))
        work = np.pad(work, ((pad[1], pad[3]), (pad[0], pad[2]), (0, 0)), mode="reflect")
        h, w = work.shape[:2]
        yy, xx = np.ogrid[:h, :w]
        xx, yy = xx.astype(np.float32), yy.astype(np.float32)
        mask = np.maximum(
            1.0 - np.minimum(xx / pad[0], (w - 1 - xx) / pad[2]),
            1.0 - np.minimum(yy / pad[1], (h - 1 - yy) / pad[3]),
        )[:, :, None]
        blur = wqsize * 0.02
        blurred = cv2.GaussianBlur(work, (0, 0), sigmaX=blur, sigmaY=blur, borderType=cv2.BORDER_REFLECT)
        work += (blurred - work) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)
        work += (np.median(work, axis=(0, 1)) - work) * np.clip(mask, 0.0, 1.0)
        to_work = _translation(pad[0], pad[1]) @ to_work

    matrix = transform @ np.linalg.inv(to_work)
    out = cv2.warpAffine(
        work, matrix[:2], (size, size), flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REFLECT
    )
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def feather_mask(size: int, feather: float) -> np.ndarray:
    """Size x size float mask: 1 inside, easing to 0 at the edges over ``feather * size`` pixels."""
    if feather <= 0:
        return np.ones((size, size), np.float32)
    idx = np.arange(size, dtype=np.float32)
    t = np.clip(np.minimum(idx + 0.5, size - 0.5 - idx) / (feather * size), 0.0, 1.0)
    ramp = t * t * (3.0 - 2.0 * t)
    return np.outer(ramp, ramp)


def paste_back(
    original: np.ndarray, edited: np.ndarray, transform: np.ndarray, size: int, feather: float
) -> np.ndarray:
    """Warp ``edited`` (an aligned image made with ``transform`` at ``size``) back into ``original``."""
    edited_size = edited.shape[0]
    transform = np.asarray(transform, dtype=np.float64)
    if edited_size != size:  # edited at another resolution: rescale the aligned frame
        k = edited_size / size
        transform = _translation(-0.5, -0.5) @ np.diag([k, k, 1.0]) @ _translation(0.5, 0.5) @ transform
    height, width = original.shape[:2]
    lo, hi = -0.5, edited_size - 0.5
    corners = apply(np.linalg.inv(transform), np.array([[lo, lo], [lo, hi], [hi, hi], [hi, lo]]))
    x0 = max(int(np.floor(corners[:, 0].min())), 0)
    y0 = max(int(np.floor(corners[:, 1].min())), 0)
    x1 = min(int(np.ceil(corners[:, 0].max())) + 1, width)
    y1 = min(int(np.ceil(corners[:, 1].max())) + 1, height)
    result = original.copy()
    if x1 <= x0 or y1 <= y0:
        logger.warning("the aligned square lies outside the original image; nothing pasted")
        return result

    # Inverse maps: region pixel -> original pixel -> aligned pixel.
    matrix = (transform @ _translation(x0, y0))[:2]
    flags = cv2.WARP_INVERSE_MAP
    region = (x1 - x0, y1 - y0)
    pixels = cv2.warpAffine(
        edited.astype(np.float32), matrix, region, flags=flags | cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )
    mask = cv2.warpAffine(
        feather_mask(edited_size, feather), matrix, region, flags=flags | cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=0.0,
    )[:, :, None]
    base = original[y0:y1, x0:x1].astype(np.float32)
    blended = base + (pixels - base) * mask
    result[y0:y1, x0:x1] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return result
