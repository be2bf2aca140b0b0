"""The studio's routes over HTTP, without a browser: safety (hosts, origins, tokens, paths, uploads, numbers)
and the busy state."""

import json
import re
import struct
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import pytest

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


def new_tab(url) -> str:
    """The token of a new tab: the one the served page carries."""
    status, page, _ = request(url, "/")
    assert status == 200
    return re.search(rb'<meta name="s2edit-session" content="([A-Za-z0-9_-]{32})">', page).group(1).decode()


@pytest.fixture(scope="module")
def sid(studio):
    return new_tab(studio[0])


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
    assert b"{{session}}" not in page
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
    other = new_tab(url)
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
    assert server.tabs[sid].session.state["edits"]["sefa:1"]["value"] == 1  # the late, older value changed nothing


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
    assert not server.slot.busy


def test_only_the_hosts_it_listens_on_are_served(studio, sid):
    """DNS rebinding: a page of another name resolving to 127.0.0.1 reaches the port, but names its own host."""
    url, _ = studio
    port = int(url.rsplit(":", 1)[1])
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1.nip.io:{port}", f"localhost:{port + 1}", ""):
        for path in ("/", "/api/session", "/static/app.js", f"/api/download/0?sid={sid}"):
            status, body, _ = request(url, path, headers={"Host": host, "X-Session": sid})
            assert status == 403 and "is not this studio" in error_of(body), (host, path)
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"LOCALHOST:{port}", f"[::1]:{port}"):
        assert request(url, "/api/session", headers={"Host": host, "X-Session": sid})[0] == 200, host


def test_other_sites_cannot_drive_it(studio, sid):
    url, server = studio
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Sec-Fetch-Site": "same-site"}, {"Origin": url.replace("127.0.0.1", "localhost")}):
        status, body, _ = request(url, "/api/seed", {"seed": 5}, {"X-Session": sid, **headers})
        assert status == 403 and "refused" in error_of(body), headers
    assert source_of(url, sid) != "seed5"
    own = {"X-Session": sid, "Origin": url, "Sec-Fetch-Site": "same-origin"}
    assert request(url, "/api/seed", {"seed": 5}, own)[0] == 200 and source_of(url, sid) == "seed5"

    tabs = list(server.tabs)  # simple cross-site posts (no token, no custom header) neither make nor evict tabs
    for _ in range(server.max_sessions + 1):
        status, _, _ = request(url, "/api/session", b"x", {"Content-Type": "text/plain"}, method="POST")
        assert status == 405
        status, _, _ = request(url, "/api/seed", b'{"seed": 1}', {"Content-Type": "text/plain",
                                                                 "Origin": "http://evil.example"})
        assert status == 403
    for dest in ("iframe", "image", "empty", "script"):  # nor do pages that embed or fetch the studio's page
        assert request(url, "/", headers={"Sec-Fetch-Dest": dest, "Sec-Fetch-Site": "cross-site"})[0] == 403
    assert list(server.tabs) == tabs


def source_of(url, sid):
    return json.loads(request(url, "/api/session", headers={"X-Session": sid})[1])["source"]


def test_every_api_route_needs_the_tabs_token(studio, sid):
    from cli.studio.app import ROUTES

    url, _ = studio
    api = [r for r in ROUTES if r.path.startswith("/api/")]
    assert len(api) >= 15
    for route in api:
        path = route.path.replace("{kind}", "png").replace("{index:int}", "0")
        method = "POST" if "POST" in route.methods else "GET"
        for headers in ({}, {"X-Session": "made-up"}, {"X-Session": sid[:-1]}):
            status, body, _ = request(url, path, b"{}" if method == "POST" else None, headers, method=method)
            assert status == 410 and "reload the page" in error_of(body), (path, headers)
    status, _, _ = request(url, f"/api/seed?sid={sid}", {"seed": 3})  # a POST's token travels in the header only
    assert status == 410


@pytest.mark.parametrize("path, body", [
    ("/api/network", b'{"index": 1e400}'), ("/api/network", b'{"index": NaN}'), ("/api/network", b'{"index": 0.5}'),
    ("/api/network", b'{"index": true}'), ("/api/seed", b'{"seed": 1e400}'), ("/api/seed", b'{"seed": -Infinity}'),
    ("/api/seed", b'{"seed": 2.5}'), ("/api/edit", b'{"seq": 1e400}'),
    ("/api/edit", b'{"seq": 1000000, "changes": {"truncation": 1e400}}'),
    ("/api/edit", b'{"seq": 1000000, "changes": {"edits": {"sefa:0": {"value": -1e400}}}}'),
    ("/api/edit", b'{"seq": 1000000, "changes": {"mix": {"seed": 1e400}}}'),
    ("/api/edit", b'{"seq": 1000000, "changes": {"mix": {"seed": 0.5}}}'),
    ("/api/project", b'{"steps": 1e400}'), ("/api/project", b'{"tune_steps": NaN}'),
    ("/api/project", b'{"steps": 2.5}'),
])
def test_non_finite_and_fractional_numbers_are_one_line_400s(studio, sid, path, body):
    url, server = studio
    state = server.tabs[sid].session.info()
    status, answer, _ = request(url, path, body, {"X-Session": sid, "Content-Type": "application/json"})
    assert status == 400, answer
    message = error_of(answer)
    assert "\n" not in message and "internal error" not in message
    assert server.tabs[sid].session.info() == state


def test_exports_are_named_relative_to_the_outdir(studio, sid):
    url, server = studio
    status, body, _ = request(url, "/api/export/png", b"", {"X-Session": sid})
    assert status == 200 and str(server.outdir) not in body.decode()
    (file,) = json.loads(body)["files"]
    assert file["path"] == file["name"] and (server.outdir / file["path"]).is_file()
    status, png, _ = request(url, file["url"])  # the link downloads it (its token in the query: a plain link)
    assert status == 200 and png == (server.outdir / file["path"]).read_bytes()
