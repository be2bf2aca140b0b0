"""The studio's web app: routes, uploads and the progress stream over ``projector.studio``.

Starlette + uvicorn and one hand-written page: no build step, every asset served from
``static/`` by name from a fixed list. Each served page is a tab with its own ``StudioSession``
and token (``server.StudioServer``); one projection runs at a time per server, and its progress
reaches the tab as server-sent events. Every route reads the server from ``request.app.state``.
Errors a user can cause come back as ``{"error": message}`` and the server keeps running.
"""

import asyncio
import base64
import html
import json
import logging
import queue
import threading
from pathlib import Path

import cv2
import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from projector import DEFAULT_PRESET
from projector.studio import ProjectionOptions, StudioBusyError, whole_number
from stylegan2_core.errors import InputError, S2EditError

from .server import BackgroundServer, LocalOnly, StudioServer, UnknownSession
from .uploads import LATENT_BYTES, check_upload_image, read_limited, upload_name

__all__ = ["create_app", "StudioServer", "BackgroundServer"]

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
ASSETS = {"app.js": "text/javascript", "style.css": "text/css", "favicon.svg": "image/svg+xml"}
TOKEN_SLOT = "{{session}}"  # where index.html receives its tab's token
PAGE_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
                "Content-Security-Policy": "frame-ancestors 'none'"}


def _server(request: Request) -> StudioServer:
    return request.app.state.server


def _png(pixels: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(pixels[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def _image(pixels: np.ndarray) -> Response:
    return Response(_png(pixels), media_type="image/png", headers={"Cache-Control": "no-store"})


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number")


async def _json(request: Request) -> dict:
    """The request's JSON object; ``NaN``/``Infinity`` are refused, ``1e400`` reaches the checks as inf."""
    try:
        body = json.loads(await request.body() or b"{}", parse_constant=_refuse_constant)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError("request body is not JSON") from None
    except ValueError as err:
        raise InputError(f"request body: {err}") from None
    if not isinstance(body, dict):
        raise InputError("request body must be a JSON object")
    return body


def _int(body: dict, key: str, default: int, high: int = 2**32 - 1) -> int:
    return whole_number(body.get(key, default), key, 0, high)


# ----- the page and its assets
async def index(request):
    """The page, with a new tab's token in it."""
    token = await run_in_threadpool(_server(request).new_tab)
    page = (STATIC / "index.html").read_text().replace(TOKEN_SLOT, html.escape(token))
    return HTMLResponse(page, headers=PAGE_HEADERS)


async def asset(request):
    name = request.path_params["name"]
    if name not in ASSETS:  # a fixed list: no path from the client reaches the file system
        return JSONResponse({"error": "not found"}, status_code=404)
    return FileResponse(STATIC / name, media_type=ASSETS[name], headers={"Cache-Control": "no-store"})


# ----- what to edit
async def config(request):
    server = _server(request)
    server.tab(request)
    return JSONResponse({"networks": [n.info() for n in server.networks],
                         "max_upload_mib": server.max_upload_bytes // 2**20,
                         "max_megapixels": server.max_pixels / 1e6})


async def session_info(request):
    _, tab = _server(request).tab(request)
    return JSONResponse(tab.session.info())


async def network(request):
    _, tab = _server(request).tab(request)
    body = await _json(request)
    await run_in_threadpool(tab.session.select_network, _int(body, "index", 0, len(_server(request).networks) - 1))
    return JSONResponse(tab.session.info())


async def seed(request):
    _, tab = _server(request).tab(request)
    body = await _json(request)
    await run_in_threadpool(tab.session.start_from_seed, _int(body, "seed", 0))
    return JSONResponse(tab.session.info())


async def upload_photo(request):
    server = _server(request)
    _, tab = server.tab(request)
    name = upload_name(request, "photo")
    data = await read_limited(request, server.max_upload_bytes, name)
    suffix = check_upload_image(data, name, server.max_upload_bytes, server.max_pixels, server.max_decoded)
    align = request.query_params.get("align") == "1"
    info = await run_in_threadpool(server.uploads.use, data, suffix, name,
                                   lambda p: tab.session.load_photo(p, name, align=align), True)
    return JSONResponse({**tab.session.info(), "photo": info})


async def upload_latent(request):
    """A latent to edit or mix with (``role=mix``), or the tuned file the current latent records."""
    server = _server(request)
    _, tab = server.tab(request)
    name = upload_name(request, "latent")
    data = await read_limited(request, LATENT_BYTES, name)
    if not data:
        raise InputError(f"{name}: empty file")
    mix = request.query_params.get("role", "edit") == "mix"

    def use(path):
        if mix:
            tab.session.set_mix_latent(path)
            return {}
        return tab.session.open_file(path, name)

    info = await run_in_threadpool(server.uploads.use, data, ".latent", name, use)
    return JSONResponse({**tab.session.info(), "latent": info})


# ----- editing and rendering
async def directions(request):
    _, tab = _server(request).tab(request)
    group = request.query_params.get("group", "sefa")
    found = await run_in_threadpool(tab.session.net.directions, group)
    return JSONResponse({"group": group, "directions": [d.info() for d in found]})


async def edit(request):
    """Apply slider changes and answer the new render; an overtaken request is dropped (204)."""
    server = _server(request)
    _, tab = server.tab(request)
    body = await _json(request)
    seq = _int(body, "seq", 0, 2**53)

    def work():
        if seq < tab.seq:
            return None
        tab.seq = seq
        tab.session.update(body.get("changes", {}), commit=bool(body.get("commit", False)))
        with tab.render_lock:
            if seq < tab.seq:
                return None  # a newer slider value arrived while this one waited
            server.set_threads()
            return tab.session.render()

    pixels = await run_in_threadpool(work)
    if pixels is None:
        return Response(status_code=204)
    return _image(pixels)


async def render(request):
    server = _server(request)
    _, tab = server.tab(request)
    which = request.query_params.get("which", "after")
    if which == "target":
        pixels = tab.session.target_image()
        if pixels is None:
            return JSONResponse({"error": "no photo loaded"}, status_code=404)
        return _image(pixels)

    def work():
        server.set_threads()
        return tab.session.render(before=which == "before")

    return _image(await run_in_threadpool(work))


async def thumbs(request):
    server = _server(request)
    _, tab = server.tab(request)
    direction_id = request.query_params.get("id", "")

    def work():
        server.set_threads()
        return tab.session.thumbnails(direction_id)

    return _image(await run_in_threadpool(work))


async def undo(request):
    _, tab = _server(request).tab(request)
    await run_in_threadpool(tab.session.undo)
    return JSONResponse(tab.session.info())


# ----- projection
def _options(body: dict) -> ProjectionOptions:
    return ProjectionOptions(preset=str(body.get("preset", DEFAULT_PRESET)), steps=_int(body, "steps", 0) or None,
                             space=body.get("space") or None, noise=str(body.get("noise", "optimize")),
                             loss=str(body.get("loss", "auto")), tune=bool(body.get("tune", False)),
                             tune_steps=_int(body, "tune_steps", 0) or None)


def _run_projection(session, options: ProjectionOptions, events: queue.Queue) -> None:
    """A projection thread: progress, then 'done' or 'failed', into the tab's event queue."""
    def on_progress(u):
        url = None if u.image is None else "data:image/png;base64," + base64.b64encode(_png(u.image)).decode()
        events.put(("progress", {"phase": u.phase, "step": u.step, "steps": u.num_steps, "distance": u.distance,
                                 "image": url}))

    try:
        report = session.project(options, progress=on_progress)
        events.put(("done", {"report": report, "session": session.info()}))
    except S2EditError as err:
        events.put(("failed", {"error": str(err)}))
    except Exception as err:  # keep serving; the page shows it
        log.exception("projection failed")
        events.put(("failed", {"error": f"internal error: {type(err).__name__}: {err}"}))


async def start_projection(request):
    server = _server(request)
    token, tab = server.tab(request)
    options = _options(await _json(request))
    cfg = options.config()  # validate before answering
    if tab.session.target is None:
        raise InputError("load a photo first: projection needs a target")
    if server.slot.busy:
        raise StudioBusyError("another projection is running on this server; try again when it ends")
    threading.Thread(target=_run_projection, args=(tab.session, options, tab.events),
                     name=f"projection-{token[:6]}", daemon=True).start()
    return JSONResponse({"started": True, "steps": cfg.total_steps}, status_code=202)


async def stop_projection(request):
    server = _server(request)
    token, _ = server.tab(request)
    if server.slot.owner != token:
        raise InputError("no projection of this page is running")
    server.slot.stop.set()
    return JSONResponse({"stopping": True})


async def events(request):
    """The tab's server-sent events: the server's status when it changes, and its projection's progress."""
    server = _server(request)
    token, tab = server.tab(request)

    async def stream():
        last = None
        yield "retry: 2000\n\n"
        while not server.closing:
            status = server.status(token)
            if status != last:
                last = status
                yield f"event: status\ndata: {json.dumps(status)}\n\n"
            sent = False
            while True:
                try:
                    kind, data = tab.events.get_nowait()
                except queue.Empty:
                    break
                sent = True
                yield f"event: {kind}\ndata: {json.dumps(data)}\n\n"
            if not sent:
                await asyncio.sleep(0.1)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


# ----- exports
async def export(request):
    """Write an export under ``--outdir``; the answer names it relative to that folder (never a server path)."""
    server = _server(request)
    token, tab = server.tab(request)
    kind = request.path_params["kind"]
    session = tab.session
    writers = {"png": session.export_png, "latent": session.export_latent, "video": session.export_video}
    if kind not in writers:
        raise InputError(f"unknown export {kind!r}: use png, latent or video")
    first = len(session.exports)
    paths = await run_in_threadpool(writers[kind])
    files = [{"name": p.name, "url": f"/api/download/{first + i}?sid={token}", "path": server.relative(p)}
             for i, p in enumerate(paths)]
    return JSONResponse({"files": files})


async def download(request):
    """A file this tab exported (looked up by index: the client never names a path)."""
    _, tab = _server(request).tab(request)
    index, exports = request.path_params["index"], tab.session.exports
    if not 0 <= index < len(exports) or not exports[index].is_file():
        return JSONResponse({"error": "no such export"}, status_code=404)
    return FileResponse(exports[index], filename=exports[index].name)


# ----- errors
async def input_error(request, exc):
    status = 409 if isinstance(exc, StudioBusyError) else 410 if isinstance(exc, UnknownSession) else 400
    return JSONResponse({"error": str(exc)}, status_code=status)


async def internal_error(request, exc):
    log.error("internal error on %s", request.url.path, exc_info=exc)
    return JSONResponse({"error": f"internal error: {type(exc).__name__}: {exc}"}, status_code=500)


ROUTES = [
    Route("/", index),
    Route("/static/{name}", asset),
    Route("/api/config", config),
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


def create_app(server: StudioServer) -> Starlette:
    """The ASGI app over ``server``: only this machine's own studio page may drive it (``server.LocalOnly``)."""
    app = Starlette(routes=ROUTES, middleware=[Middleware(LocalOnly, server=server)],
                    exception_handlers={S2EditError: input_error, Exception: internal_error})
    app.state.server = server
    return app
