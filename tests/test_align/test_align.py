"""Face detection, FFHQ alignment and paste-back on a real photo (skimage's astronaut)."""

import struct

import cv2
import numpy as np
import pytest
import skimage.data

from projector.align import (
    Face,
    _ffhq,
    _mtcnn,
    align_face,
    align_file,
    align_image,
    detect_faces,
    load_alignment,
    paste_back,
    save_alignment,
)
from projector.images import read_pixels as read_image
from stylegan2_core.errors import InputError

# Checked by eye on 20x (mouth corners 30x) nearest-neighbour enlargements of the photo
# with a line through every pixel centre: eyes at the iris centre, mouth corners where
# the lips meet. Pixel centres are integers, as in the library.
ASTRONAUT_LANDMARKS = {
    "left_eye": (203.0, 100.5),
    "right_eye": (246.0, 102.0),
    "mouth_left": (203.5, 140.0),
    "mouth_right": (244.0, 141.0),
}
LANDMARK_ROWS = {"left_eye": 0, "right_eye": 1, "mouth_left": 3, "mouth_right": 4}


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage.data.astronaut()


@pytest.fixture(scope="module")
def face(astronaut) -> Face:
    faces = detect_faces(astronaut)
    assert len(faces) == 1
    return faces[0]


@pytest.fixture(scope="module")
def aligned(astronaut):
    return align_image(astronaut, 256)[0]


def _brute_force_nms(boxes, scores, threshold, mode):
    order = sorted(range(len(boxes)), key=lambda i: -scores[i])
    suppressed = [False] * len(boxes)
    keep = []
    for a, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(i)
        for j in order[a + 1 :]:
            if suppressed[j]:
                continue
            bi, bj = boxes[i], boxes[j]
            iw = max(0.0, min(bi[2], bj[2]) - max(bi[0], bj[0]) + 1)
            ih = max(0.0, min(bi[3], bj[3]) - max(bi[1], bj[1]) + 1)
            inter = iw * ih
            area_i = (bi[2] - bi[0] + 1) * (bi[3] - bi[1] + 1)
            area_j = (bj[2] - bj[0] + 1) * (bj[3] - bj[1] + 1)
            denom = min(area_i, area_j) if mode == "min" else area_i + area_j - inter
            if inter / denom > threshold:
                suppressed[j] = True
    return keep


@pytest.mark.parametrize("mode", ["union", "min"])
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_nms_matches_brute_force(mode, threshold):
    rng = np.random.default_rng(int(threshold * 10) + (mode == "min"))
    for _ in range(5):
        n = int(rng.integers(1, 120))
        xy = rng.uniform(0, 100, size=(n, 2))
        wh = rng.uniform(2, 40, size=(n, 2))
        boxes = np.concatenate([xy, xy + wh], axis=1)
        scores = rng.permutation(n) / n
        expected = _brute_force_nms(boxes.tolist(), scores.tolist(), threshold, mode)
        assert _mtcnn.nms(boxes, scores, threshold, mode).tolist() == expected
    assert _mtcnn.nms(np.zeros((0, 4)), np.zeros(0), 0.5).size == 0


def test_astronaut_landmarks(face):
    assert face.score > 0.99
    x0, y0, x1, y1 = face.box
    assert 170 < x0 < 190 and 50 < y0 < 70 and 255 < x1 < 280 and 165 < y1 < 185
    for name, expected in ASTRONAUT_LANDMARKS.items():
        error = np.hypot(*(face.landmarks[LANDMARK_ROWS[name]] - expected))
        assert error < 3.0, f"{name}: {face.landmarks[LANDMARK_ROWS[name]]} vs {expected}"
    nose = face.landmarks[2]
    assert 215 < nose[0] < 233 and 115 < nose[1] < 135


def _ffhq_eye_positions(landmarks: np.ndarray, size: int) -> np.ndarray:
    """Where the FFHQ recipe puts the eyes of a face whose mouth is square to its eyes."""
    e2e = np.hypot(*(landmarks[1] - landmarks[0]))
    e2m = np.hypot(*((landmarks[3] + landmarks[4]) / 2 - (landmarks[0] + landmarks[1]) / 2))
    scale = size / (2 * max(2.0 * e2e, 1.8 * e2m))
    centre = size / 2 - 0.5
    eye_y = centre - 0.1 * e2m * scale
    return np.array([[centre - e2e / 2 * scale, eye_y], [centre + e2e / 2 * scale, eye_y]])


def test_aligned_eyes_level_at_ffhq_positions(face, aligned):
    size = 256
    assert aligned.image.shape == (size, size, 3) and aligned.image.dtype == np.uint8
    expected = _ffhq_eye_positions(face.landmarks, size)

    mapped = _ffhq.apply(aligned.transform, face.landmarks)
    assert abs(mapped[1, 1] - mapped[0, 1]) < 1.5
    np.testing.assert_allclose(mapped[:2], expected, atol=0.02 * size)

    # The pixels agree with the matrix: the detector finds the eyes there again.
    again = detect_faces(aligned.image)
    assert len(again) == 1
    np.testing.assert_allclose(again[0].landmarks[:2], expected, atol=0.02 * size)
    assert abs(again[0].landmarks[1, 1] - again[0].landmarks[0, 1]) < 1.5


def test_padding_and_shrinking_keep_geometry(astronaut, face, aligned):
    # Face cut by the image border: reflect padding fills the outside (and blurs a band
    # about 0.1 x the square inside the edge), the rest of the face is unchanged.
    cut = np.ascontiguousarray(astronaut[75:, 185:])
    shifted = Face(box=face.box - [185, 75, 185, 75], score=face.score, landmarks=face.landmarks - [185, 75])
    padded = align_face(cut, shifted, 256)
    np.testing.assert_allclose(padded.transform[:2, :2], aligned.transform[:2, :2], atol=1e-9)
    edge = _ffhq.apply(aligned.transform, np.array([185.0, 75.0]))
    assert 60 < edge[0] < 75 and 75 < edge[1] < 90
    centre = (slice(120, 240), slice(100, 240))
    diff = np.abs(padded.image[centre].astype(int) - aligned.image[centre].astype(int))
    assert diff.mean() < 1.0

    # A 4x larger photo is area-downsampled before the warp: same crop, no aliasing.
    big = cv2.resize(astronaut, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    scaled = Face(box=(face.box + 0.5) * 4 - 0.5, score=face.score, landmarks=(face.landmarks + 0.5) * 4 - 0.5)
    from_big = align_face(big, scaled, 256)
    diff = np.abs(from_big.image.astype(int) - aligned.image.astype(int))
    assert diff.mean() < 2.0 and np.percentile(diff, 99) < 12


def test_several_faces(astronaut):
    head = astronaut[20:220, 120:320]
    canvas = np.full((200, 320, 3), 200, np.uint8)
    canvas[:, :200] = head
    canvas[50:150, 210:310] = cv2.resize(head, (100, 100), interpolation=cv2.INTER_AREA)

    everything = align_image(canvas, 64, all_faces=True)
    assert len(everything) == 2
    assert everything[0].landmarks[0, 0] < 200 < everything[1].landmarks[0, 0]  # largest first
    second = align_image(canvas, 64, face_index=1)[0]
    np.testing.assert_array_equal(second.image, everything[1].image)
    with pytest.raises(InputError, match="face 2 requested but 2 found"):
        align_image(canvas, 64, face_index=2)


def test_no_face_names_the_file(tmp_path):
    path = tmp_path / "flat_grey.png"
    cv2.imwrite(str(path), np.full((240, 320, 3), 128, np.uint8))
    with pytest.raises(InputError, match="flat_grey.png: no face found"):
        align_file(path, 256)


def test_paste_back_reproduces_original(astronaut, aligned):
    pasted = paste_back(astronaut, aligned.image, aligned.transform)
    x0, y0, x1, y1 = aligned.box.astype(int)
    inside = np.abs(pasted[y0:y1, x0:x1].astype(int) - astronaut[y0:y1, x0:x1].astype(int))
    assert inside.mean() < 1.0 and inside.max() <= 10

    # Outside the aligned square nothing changes.
    untouched = np.ones(astronaut.shape[:2], bool)
    corners = np.rint(aligned.quad).astype(np.int32)
    cv2.fillConvexPoly(untouched.view(np.uint8), corners, 0)
    untouched = cv2.erode(untouched.view(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    np.testing.assert_array_equal(pasted[untouched], astronaut[untouched])

    # An edit at twice the aligned size lands in the same place.
    double = cv2.resize(aligned.image, (512, 512), interpolation=cv2.INTER_CUBIC)
    pasted2 = paste_back(astronaut, double, aligned.transform, size=256)
    inside2 = np.abs(pasted2[y0:y1, x0:x1].astype(int) - astronaut[y0:y1, x0:x1].astype(int))
    assert inside2.mean() < 2.0


def test_alignment_json_round_trip(tmp_path, aligned):
    path = tmp_path / "astronaut.json"
    save_alignment(aligned, path, source="photos/astronaut.png")
    loaded = load_alignment(path)
    assert loaded.image is None
    assert loaded.size == aligned.size and loaded.source == "photos/astronaut.png"
    assert loaded.source_size == (512, 512) and loaded.score == pytest.approx(aligned.score)
    for name in ("quad", "transform", "landmarks", "box"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(aligned, name))

    import json

    record = json.loads(path.read_text())
    assert record["landmarks"]["left_eye"][0] < record["landmarks"]["right_eye"][0]
    assert set(record) >= {"landmarks", "quad", "transform", "size", "source", "box", "score"}

    path.write_text('{"size": 256}')
    with pytest.raises(InputError, match="not an alignment file"):
        load_alignment(path)


def _with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    tiff = b"MM\x00*\x00\x00\x00\x08" + struct.pack(">HHHIHHI", 1, 0x0112, 3, 1, orientation, 0, 0)
    payload = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def test_read_image_formats(tmp_path):
    bgra = np.zeros((4, 5, 4), np.uint8)
    bgra[..., 2] = 255
    bgra[0, 0, 3] = 255
    cv2.imwrite(str(tmp_path / "rgba.png"), bgra)
    rgba = read_image(tmp_path / "rgba.png")
    assert rgba[0, 0].tolist() == [255, 0, 0] and rgba[1, 1].tolist() == [255, 255, 255]

    grey16 = np.full((3, 4), 65535, np.uint16)
    grey16[0, 0] = 32896
    cv2.imwrite(str(tmp_path / "grey16.png"), grey16)
    grey = read_image(tmp_path / "grey16.png")
    assert grey.shape == (3, 4, 3) and grey.dtype == np.uint8 and grey[0, 0].tolist() == [128] * 3

    wide = np.zeros((20, 40, 3), np.uint8)
    ok, jpeg = cv2.imencode(".jpg", wide)
    (tmp_path / "rotated.jpg").write_bytes(_with_exif_orientation(jpeg.tobytes(), 6))
    assert read_image(tmp_path / "rotated.jpg").shape == (40, 20, 3)

    with pytest.raises(InputError, match="missing.png"):
        read_image(tmp_path / "missing.png")
