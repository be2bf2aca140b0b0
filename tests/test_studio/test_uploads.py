"""The studio's upload checks (cli.studio.uploads): typed by content, refused before decoding, one decode at a time."""

import concurrent.futures
import struct
import threading
import time
import zlib

import cv2
import numpy as np
import pytest

from stylegan2_core import InputError

pytest.importorskip("starlette", reason="the studio extra is not installed (pip install -e '.[studio]')")

from cli.studio.uploads import MAX_DECODED_BYTES, Uploads, check_upload_image, decoded_bytes


def _png_header(width, height, depth=8, colour=2):
    """A PNG that declares width x height pixels and holds almost none (valid chunks, one tiny IDAT)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def test_uploads_are_typed_by_their_content():
    image = np.zeros((30, 50, 3), np.uint8)
    for suffix in (".png", ".jpg", ".webp", ".bmp"):
        assert check_upload_image(cv2.imencode(suffix, image)[1].tobytes(), f"x{suffix}") == suffix
    lossless = cv2.imencode(".webp", image, [cv2.IMWRITE_WEBP_QUALITY, 101])[1].tobytes()
    assert check_upload_image(lossless) == ".webp"


def test_uploads_refused_before_decoding(monkeypatch):
    import cli.studio.uploads

    with pytest.raises(InputError, match="bomb.png: 6000x6000 = 36 megapixels"):
        check_upload_image(_png_header(6000, 6000), "bomb.png")
    with pytest.raises(InputError, match="bomb.png: declares too many pixels"):
        check_upload_image(_png_header(100_000, 100_000), "bomb.png")
    with pytest.raises(InputError, match="not an image"):
        check_upload_image(b"just some text\n", "notes.txt")
    with pytest.raises(InputError, match="upload limit"):
        check_upload_image(_png_header(10, 10) + b"\0" * 2048, "big.png", max_bytes=1024)
    with pytest.raises(InputError, match="cut.png: unreadable"):  # a signature and nothing readable behind it
        check_upload_image(_png_header(10, 10)[:20], "cut.png")
    assert check_upload_image(cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes()) == ".png"
    seen = []  # the one header reader is projector.images's
    monkeypatch.setattr(cli.studio.uploads, "image_size", lambda f: seen.append(f) or (8, 8))
    check_upload_image(_png_header(10, 10))
    assert len(seen) == 1


def test_the_decoded_size_is_bounded_by_the_header():
    """25 megapixels of 16-bit RGBA fit the byte and pixel limits (a few hundred KB compressed) but decode to
    200 MB: refused; the same pixels as 8-bit RGB (a camera photo) pass."""
    with pytest.raises(InputError, match=r"hostile.png: 5000x5000 pixels of 4 x 16-bit channels decode to "
                                         r"200 MB, over the limit of 75 MB; refused before decoding"):
        check_upload_image(_png_header(5000, 5000, depth=16, colour=6), "hostile.png")
    assert check_upload_image(_png_header(5000, 5000, depth=8, colour=2)) == ".png"
    assert decoded_bytes(_png_header(10, 10, 8, 0), 10, 10, ".png") == 100  # greyscale
    assert decoded_bytes(_png_header(10, 10, 16, 4), 10, 10, ".png") == 400  # 16-bit grey + alpha
    jpeg = cv2.imencode(".jpg", np.zeros((30, 50, 3), np.uint8))[1].tobytes()
    assert decoded_bytes(jpeg, 50, 30, ".jpg") == 50 * 30 * 3
    grey = cv2.imencode(".jpg", np.zeros((30, 50), np.uint8))[1].tobytes()
    assert decoded_bytes(grey, 50, 30, ".jpg") == 50 * 30
    bmp = cv2.imencode(".bmp", np.zeros((30, 50, 4), np.uint8))[1].tobytes()
    assert decoded_bytes(bmp, 50, 30, ".bmp") == 50 * 30 * 4
    assert 25_000_000 * 3 <= MAX_DECODED_BYTES < 25_000_000 * 4


def test_photos_decode_one_at_a_time(tmp_path):
    uploads = Uploads(tmp_path)
    running, most, lock = [0], [0], threading.Lock()

    def decode(path):
        assert path.read_bytes() == b"data" and list(path.parent.iterdir()) == [path]  # nothing beside it
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return path

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        paths = list(pool.map(lambda i: uploads.use(b"data", ".png", f"p{i}", decode, photo=True), range(4)))
    assert most[0] == 1
    assert not any(p.exists() for p in paths) and list(uploads.folder.iterdir()) == []  # nothing left behind
    with pytest.raises(InputError, match=r"^face: broken$"):  # errors name the upload, not the private file
        uploads.use(b"data", ".png", "face", lambda p: (_ for _ in ()).throw(InputError(f"{p}: broken")))
