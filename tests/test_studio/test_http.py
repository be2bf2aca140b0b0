"""The studio's routes over HTTP, without a browser: safety (paths, uploads, sessions) and the busy state."""

import json
import struct
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import pytest

from projector.studio import TUNING_AVAILABLE

WORLD_FACE = Path(__file__).parents[2] / "examples" / "data" / "world_face.png"


def request(url, path, data=None, headers=None, method=None):
    """(status, body bytes, content type) of one request; error statuses are returned, not raised."""
    body = json.dumps(data).encode() if isinstance(data, dict) else data
    req = urllib.request.Request(url + path, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read(), r.headers.get("content-type", "")
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers.get("content-type", "")


@pytest.fixture(scope="module")
def sid(studio):
    url, _ = studio
    status, body, _ = request(url, "/api/session", b"", method="POST")
    assert status == 200
    return json.loads(body)["sid"]


def error_of(body: bytes) -> str:
    return json.loads(body)["error"]


@pytest.mark.parametrize("path", ["/static/..%2fapp.py", "/static/%2e%2e/%2e%2e/projector/studio.py",
                                  "/static/../../app.py", "/static/app.py", "/api/download/0?sid=x",
                                  "/static/index.html/../../../etc/passwd", "/../../../../etc/passwd"])
def test_no_request_reads_files_outside_the_assets(studio, path):
    url, _ = studio
    status, body, _ = request(url, path)
    assert status in (404, 410), path
    assert b"import" not in body and b"root:" not in body


def test_page_and_assets_are_served_by_the_app(studio):
    url, _ = studio
    status, page, ctype = request(url, "/")
    assert status == 200 and ctype.startswith("text/html")
    assert b"http://" not in page and b"https://" not in page  # nothing from elsewhere: no CDN, no web fonts
    for name in ("app.js", "style.css", "favicon.svg"):
        status, body, _ = request(url, f"/static/{name}")
        assert status == 200 and body
        assert b"https://" not in body and b"@import" not in body and b"url(http" not in body


def test_bad_uploads_show_a_message_and_the_server_keeps_running(studio, sid, monkeypatch):
    url, server = studio
    monkeypatch.setattr(server, "max_upload_bytes", 2 * 2**20)
    headers = {"X-Session": sid, "X-Filename": "notes.txt"}
    status, body, _ = request(url, "/api/upload/photo", b"hello, this is not an image\n", headers)
    assert status == 400 and "notes: not an image" in error_of(body)
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", 60_000, 60_000, 8, 2, 0, 0, 0)
    idat = b"IDAT" + zlib.compress(b"\0" * 99)
    bomb = b"\x89PNG\r\n\x1a\n" + b"".join(struct.pack(">I", len(c) - 4) + c + struct.pack(">I", zlib.crc32(c))
                                      for c in (ihdr, idat))
    status, body, _ = request(url, "/api/upload/photo", bomb, {**headers, "X-Filename": "bomb.png"})
    assert status == 400 and "bomb: declares too many pixels" in error_of(body)
    status, body, _ = request(url, "/api/upload/photo", b"\0" * (3 * 2**20), {**headers, "X-Filename": "big.png"})
    assert status == 400 and "upload limit" in error_of(body)
    status, body, _ = request(url, "/api/upload/latent", b"garbage" * 10, {**headers, "X-Filename": "x.npz"})
    assert status == 400 and error_of(body).startswith("x: not a latent file")
    with open(WORLD_FACE, "rb") as f:
        face = f.read()
    status, body, _ = request(url, "/api/upload/photo?align=1", face, {**headers, "X-Filename": "cartoon.png"})
    assert status == 400 and error_of(body).startswith("cartoon: no face found")  # names the upload, not a temp file
    status, body, _ = request(url, "/api/edit", b"{not json", {"X-Session": sid})
    assert status == 400 and "not JSON" in error_of(body)
    status, body, ctype = request(url, "/api/edit", {"changes": {"edits": {"sefa:0": {"value": 1}}}, "seq": 1},
                                  {"X-Session": sid})
    assert status == 200 and ctype == "image/png" and body[:4] == b"\x89PNG"


def test_sessions_are_separate_and_unknown_ones_refused(studio, sid):
    url, _ = studio
    status, body, _ = request(url, "/api/session", b"", method="POST")
    other = json.loads(body)["sid"]
    assert other != sid
    request(url, "/api/seed", {"seed": 11}, {"X-Session": other})
    def source(s):
        return json.loads(request(url, "/api/session", headers={"X-Session": s})[1])["source"]

    assert source(other) == "seed11" and source(sid) != "seed11"
    status, body, _ = request(url, "/api/session", headers={"X-Session": "made-up"})
    assert status == 410 and "reload the page" in error_of(body)


def test_overtaken_renders_are_dropped(studio, sid):
    url, server = studio
    headers = {"X-Session": sid}
    status, _, _ = request(url, "/api/edit", {"changes": {"edits": {"sefa:1": {"value": 1}}}, "seq": 100}, headers)
    assert status == 200
    status, body, _ = request(url, "/api/edit", {"changes": {"edits": {"sefa:1": {"value": 2}}}, "seq": 99}, headers)
    assert status == 204 and body == b""
    assert server.sessions[sid].state["edits"]["sefa:1"]["value"] == 1  # the late, older value changed nothing


def test_one_projection_per_server(studio, sid):
    url, server = studio
    server.slot.acquire("another tab")
    try:
        with open(WORLD_FACE, "rb") as f:
            status, _, _ = request(url, "/api/upload/photo", f.read(), {"X-Session": sid, "X-Filename": "face.png"})
        assert status == 200
        status, body, _ = request(url, "/api/project", {"steps": 5}, {"X-Session": sid})
        assert status == 409 and "another projection is running" in error_of(body)
        status, body, _ = request(url, "/api/stop", b"", {"X-Session": sid})
        assert status == 400 and "no projection of this page" in error_of(body)
    finally:
        server.slot.release()
    status, body, _ = request(url, "/api/project", {"steps": "many"}, {"X-Session": sid})
    assert status == 400 and "steps" in error_of(body)
    status, body, _ = request(url, "/api/project", {"steps": 2, "space": "z"}, {"X-Session": sid})
    assert status == 400 and "unknown latent space" in error_of(body)
    status, body, _ = request(url, "/api/project", {"preset": "turbo"}, {"X-Session": sid})
    assert status == 400 and "unknown projector preset" in error_of(body)
    if not TUNING_AVAILABLE:
        status, body, _ = request(url, "/api/project", {"steps": 2, "tune": True}, {"X-Session": sid})
        assert status == 400 and "pivotal tuning is not available" in error_of(body)
    assert not server.slot.busy
