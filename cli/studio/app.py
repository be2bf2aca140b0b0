"""The studio's web app: routes, uploads and the progress stream over ``projector.studio``.

Starlette + uvicorn and one hand-written page: no build step, every asset served from
``static/`` by name from a fixed list. Each tab gets its own ``StudioSession`` (an unguessable
id); one projection runs at a time per server, and its progress reaches the tab as
server-sent events. Errors a user can cause come back as ``{"error": message}`` and the
server keeps running.
"""

import asyncio
import base64
import json
import logging
import queue
import secrets
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path
from urllib.parse import unquote

import cv2
import numpy as np
import torch
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from projector import DEFAULT_PRESET
from projector.studio import (
    MAX_UPLOAD_BYTES,
    MAX_UPLOAD_PIXELS,
    TUNING_AVAILABLE,
    ProjectionOptions,
    ProjectionSlot,
    StudioBusyError,
    StudioNetwork,
    StudioSession,
    check_upload_image,
    safe_name,
)
from stylegan2_core.errors import InputError, S2EditError

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
ASSETS = {"app.js": "text/javascript", "style.css": "text/css", "favicon.svg": "image/svg+xml"}
LATENT_BYTES = 64 * 1024 * 1024


class UnknownSession(S2EditError):
    """A request for a session this server does not hold (expired or never made)."""


class StudioServer:
    """The server's shared state: networks, sessions (oldest dropped past ``max_sessions``), the projection slot.

    Args:
        networks: the networks named on the command line.
        outdir: exports go to ``outdir``; uploads are decoded from short-lived files in ``outdir/.uploads``.
        render_threads: torch threads per render (None: torch's default).
    """

    def __init__(self, networks: list[StudioNetwork], outdir, max_sessions: int = 32,
                 max_upload_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_UPLOAD_PIXELS,
                 render_threads: int | None = None):
        self.networks, self.outdir = networks, Path(outdir)
        self.max_sessions, self.max_upload_bytes, self.max_pixels = max_sessions, max_upload_bytes, max_pixels
        self.render_threads = render_threads
        self.slot = ProjectionSlot()
        self.sessions: OrderedDict[str, StudioSession] = OrderedDict()
        self.queues: dict[str, queue.Queue] = {}
        self.seqs: dict[str, int] = {}
        self.render_locks: dict[str, threading.Lock] = {}
        self.closing = False
        self._lock = threading.Lock()

    def new_session(self) -> tuple[str, StudioSession]:
        sid = secrets.token_urlsafe(16)
        session = StudioSession(self.networks, self.outdir, self.slot, sid)
        with self._lock:
            self.sessions[sid] = session
            self.queues[sid], self.seqs[sid], self.render_locks[sid] = queue.Queue(), -1, threading.Lock()
            while len(self.sessions) > self.max_sessions:
                old, _ = self.sessions.popitem(last=False)
                for table in (self.queues, self.seqs, self.render_locks):
                    table.pop(old, None)
        return sid, session

    def session(self, request: Request) -> tuple[str, StudioSession]:
        sid = request.headers.get("x-session") or request.query_params.get("sid", "")
        with self._lock:
            session = self.sessions.get(sid)
            if session is None:
                raise UnknownSession("this page's session has expired (the server restarted?): reload the page")
            self.sessions.move_to_end(sid)
        return sid, session

    def status(self, sid: str) -> dict:
        fits = {f"{i}:{g}": list(p) for i, net in enumerate(self.networks) for g, p in net.progress.items()}
        return {"busy": self.slot.busy, "mine": self.slot.owner == sid, "fits": fits}

    def set_threads(self) -> None:
        if self.render_threads:
            torch.set_num_threads(self.render_threads)  # per worker thread under OpenMP

    def decode_upload(self, data: bytes, suffix: str, name: str, use):
        """Write an upload to a private temporary file under ``outdir/.uploads``, run ``use(path)``, delete it.

        Errors name the upload (``name``), not the temporary file."""
        folder = self.outdir / ".uploads"
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, suffix=suffix) as f:
            f.write(data)
            f.flush()
            try:
                return use(Path(f.name))
            except InputError as err:
                raise InputError(str(err).replace(f.name, name)) from None


def _png(pixels: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(pixels[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def _image(pixels: np.ndarray) -> Response:
    return Response(_png(pixels), media_type="image/png", headers={"Cache-Control": "no-store"})


async def _json(request: Request) -> dict:
    try:
        body = json.loads(await request.body() or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError("request body is not JSON") from None
    if not isinstance(body, dict):
        raise InputError("request body must be a JSON object")
    return body


async def _read_limited(request: Request, limit: int, name: str) -> bytes:
    """The request body, or an ``InputError`` once it passes ``limit`` bytes.

    An oversized body is still read to its end (and dropped), so the browser gets the message rather
    than a reset connection.
    """
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        else:
            chunks = []
    if size > limit:
        raise InputError(f"{name}: {size / 2**20:.1f} MiB is over the upload limit of {limit / 2**20:.0f} MiB")
    return b"".join(chunks)


def _int(body: dict, key: str, default: int) -> int:
    try:
        return int(body.get(key, default))
    except (TypeError, ValueError):
        raise InputError(f"{key} {body.get(key)!r} is not a whole number") from None


def _upload_name(request: Request, default: str) -> str:
    return safe_name(unquote(request.headers.get("x-filename", default)), default)


def create_app(server: StudioServer) -> Starlette:
    """The ASGI app over ``server``."""

    async def index(request):
        return FileResponse(STATIC / "index.html", media_type="text/html", headers={"Cache-Control": "no-store"})

    async def asset(request):
        name = request.path_params["name"]
        if name not in ASSETS:  # a fixed list: no path from the client reaches the file system
            return JSONResponse({"error": "not found"}, status_code=404)
        return FileResponse(STATIC / name, media_type=ASSETS[name], headers={"Cache-Control": "no-store"})

    async def config(request):
        return JSONResponse({"networks": [n.info() for n in server.networks], "tuning": TUNING_AVAILABLE,
                             "max_upload_mib": server.max_upload_bytes // 2**20,
                             "max_megapixels": server.max_pixels / 1e6})

    async def new_session(request):
        sid, session = await run_in_threadpool(server.new_session)
        return JSONResponse({"sid": sid, "session": session.info()})

    async def session_info(request):
        _, session = server.session(request)
        return JSONResponse(session.info())

    async def network(request):
        _, session = server.session(request)
        body = await _json(request)
        await run_in_threadpool(session.select_network, _int(body, "index", 0))
        return JSONResponse(session.info())

    async def seed(request):
        _, session = server.session(request)
        body = await _json(request)
        await run_in_threadpool(session.start_from_seed, _int(body, "seed", 0))
        return JSONResponse(session.info())

    async def upload_photo(request):
        _, session = server.session(request)
        name = _upload_name(request, "photo")
        data = await _read_limited(request, server.max_upload_bytes, name)
        suffix = check_upload_image(data, name, server.max_upload_bytes, server.max_pixels)
        align = request.query_params.get("align") == "1"
        info = await run_in_threadpool(server.decode_upload, data, suffix, name,
                                       lambda p: session.load_photo(p, name, align=align))
        return JSONResponse({**session.info(), "photo": info})

    async def upload_latent(request):
        _, session = server.session(request)
        name = _upload_name(request, "latent")
        data = await _read_limited(request, LATENT_BYTES, name)
        if not data:
            raise InputError(f"{name}: empty file")
        role = request.query_params.get("role", "edit")

        def use(path):
            if role == "mix":
                session.set_mix_latent(path)
                return {}
            return session.start_from_latent(path, name)

        info = await run_in_threadpool(server.decode_upload, data, ".latent", name, use)
        return JSONResponse({**session.info(), "latent": info})

    async def directions(request):
        _, session = server.session(request)
        group = request.query_params.get("group", "sefa")
        found = await run_in_threadpool(session.net.directions, group)
        return JSONResponse({"group": group, "directions": [d.info() for d in found]})

    async def edit(request):
        """Apply slider changes and answer the new render; an overtaken request is dropped (204)."""
        sid, session = server.session(request)
        body = await _json(request)
        seq = _int(body, "seq", 0)

        def work():
            if seq < server.seqs.get(sid, -1):
                return None
            server.seqs[sid] = seq
            session.update(body.get("changes", {}), commit=bool(body.get("commit", False)))
            with server.render_locks.setdefault(sid, threading.Lock()):
                if seq < server.seqs.get(sid, -1):
                    return None  # a newer slider value arrived while this one waited
                server.set_threads()
                return session.render()

        pixels = await run_in_threadpool(work)
        if pixels is None:
            return Response(status_code=204)
        return _image(pixels)

    async def render(request):
        _, session = server.session(request)
        which = request.query_params.get("which", "after")
        if which == "target":
            pixels = session.target_image()
            if pixels is None:
                return JSONResponse({"error": "no photo loaded"}, status_code=404)
            return _image(pixels)

        def work():
            server.set_threads()
            return session.render(before=which == "before")

        return _image(await run_in_threadpool(work))

    async def thumbs(request):
        _, session = server.session(request)
        direction_id = request.query_params.get("id", "")

        def work():
            server.set_threads()
            return session.thumbnails(direction_id)

        return _image(await run_in_threadpool(work))

    async def undo(request):
        _, session = server.session(request)
        await run_in_threadpool(session.undo)
        return JSONResponse(session.info())

    async def start_projection(request):
        sid, session = server.session(request)
        body = await _json(request)
        options = ProjectionOptions(preset=str(body.get("preset", DEFAULT_PRESET)),
                                    steps=_int(body, "steps", 0) or None, space=body.get("space") or None,
                                    noise=str(body.get("noise", "optimize")), loss=str(body.get("loss", "auto")),
                                    tune=bool(body.get("tune", False)),
                                    tune_steps=_int(body, "tune_steps", 0) or None)
        cfg = options.config()  # validate before answering
        if session.target is None:
            raise InputError("load a photo first: projection needs a target")
        if server.slot.busy:
            raise StudioBusyError("another projection is running on this server; try again when it ends")
        events = server.queues.setdefault(sid, queue.Queue())

        def on_progress(u):
            url = None if u.image is None else "data:image/png;base64," + base64.b64encode(_png(u.image)).decode()
            events.put(("progress", {"phase": u.phase, "step": u.step, "steps": u.num_steps, "distance": u.distance,
                                     "image": url}))

        def run():
            try:
                report = session.project(options, progress=on_progress)
                events.put(("done", {"report": report, "session": session.info()}))
            except S2EditError as err:
                events.put(("failed", {"error": str(err)}))
            except Exception as err:  # keep serving; the page shows it
                log.exception("projection failed")
                events.put(("failed", {"error": f"internal error: {type(err).__name__}: {err}"}))

        threading.Thread(target=run, name=f"projection-{sid[:6]}", daemon=True).start()
        return JSONResponse({"started": True, "steps": cfg.total_steps}, status_code=202)

    async def stop_projection(request):
        sid, _ = server.session(request)
        if server.slot.owner != sid:
            raise InputError("no projection of this page is running")
        server.slot.stop.set()
        return JSONResponse({"stopping": True})

    async def events(request):
        sid, _ = server.session(request)
        events = server.queues.setdefault(sid, queue.Queue())

        async def stream():
            last = None
            yield "retry: 2000\n\n"
            while not server.closing:
                status = server.status(sid)
                if status != last:
                    last = status
                    yield f"event: status\ndata: {json.dumps(status)}\n\n"
                sent = False
                while True:
                    try:
                        kind, data = events.get_nowait()
                    except queue.Empty:
                        break
                    sent = True
                    yield f"event: {kind}\ndata: {json.dumps(data)}\n\n"
                if not sent:
                    await asyncio.sleep(0.1)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def export(request):
        sid, session = server.session(request)
        kind = request.path_params["kind"]
        writers = {"png": session.export_png, "latent": session.export_latent, "video": session.export_video}
        if kind not in writers:
            raise InputError(f"unknown export {kind!r}: use png, latent or video")
        first = len(session.exports)
        paths = await run_in_threadpool(writers[kind])
        files = [{"name": p.name, "url": f"/api/download/{first + i}?sid={sid}", "path": str(p)}
                 for i, p in enumerate(paths)]
        return JSONResponse({"files": files})

    async def download(request):
        """A file this session exported (looked up by index: the client never names a path)."""
        _, session = server.session(request)
        index = request.path_params["index"]
        if not 0 <= index < len(session.exports) or not session.exports[index].is_file():
            return JSONResponse({"error": "no such export"}, status_code=404)
        path = session.exports[index]
        return FileResponse(path, filename=path.name)

    async def input_error(request, exc):
        status = 409 if isinstance(exc, StudioBusyError) else 410 if isinstance(exc, UnknownSession) else 400
        return JSONResponse({"error": str(exc)}, status_code=status)

    async def internal_error(request, exc):
        log.error("internal error on %s", request.url.path, exc_info=exc)
        return JSONResponse({"error": f"internal error: {type(exc).__name__}: {exc}"}, status_code=500)

    routes = [
        Route("/", index),
        Route("/static/{name}", asset),
        Route("/api/config", config),
        Route("/api/session", new_session, methods=["POST"]),
        Route("/api/session", session_info),
        Route("/api/network", network, methods=["POST"]),
        Route("/api/seed", seed, methods=["POST"]),
        Route("/api/upload/photo", upload_photo, methods=["POST"]),
        Route("/api/upload/latent", upload_latent, methods=["POST"]),
        Route("/api/directions", directions),
        Route("/api/edit", edit, methods=["POST"]),
        Route("/api/render", render),
        Route("/api/thumbs", thumbs),
        Route("/api/undo", undo, methods=["POST"]),
        Route("/api/project", start_projection, methods=["POST"]),
        Route("/api/stop", stop_projection, methods=["POST"]),
        Route("/api/events", events),
        Route("/api/export/{kind}", export, methods=["POST"]),
        Route("/api/download/{index:int}", download),
    ]
    app = Starlette(routes=routes, exception_handlers={S2EditError: input_error, Exception: internal_error})
    app.state.server = server
    return app


class BackgroundServer:
    """Serve an app with uvicorn in a daemon thread (tests, benchmarks, notebooks).

    ``with BackgroundServer(app) as url:`` gives ``http://127.0.0.1:<port>``; ``port=0`` picks a free port.
    """

    def __init__(self, app: Starlette, host: str = "127.0.0.1", port: int = 0):
        self.app, self.host, self.port = app, host, port

    def __enter__(self) -> str:
        import uvicorn

        config = uvicorn.Config(self.app, host=self.host, port=self.port, log_level="warning", lifespan="off",
                                timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="studio-server", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the studio server did not start on {self.host}:{self.port}")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://{self.host}:{port}"

    def __exit__(self, *exc) -> None:
        self.app.state.server.closing = True  # ends the event streams
        self.server.should_exit = True
        self.thread.join(timeout=10)
