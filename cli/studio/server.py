"""The studio server's shared state (tabs, networks, the projection slot, uploads) and who may talk to it.

Only this machine's own pages may drive the studio: every request must name a host the server
listens on (``Host``: no DNS rebinding), API requests must come from the studio's own origin
(``Origin`` / ``Sec-Fetch-Site``), and every API call carries its tab's token, which the page
receives when it is served (a cross-site form cannot set the header, nor know the token).
"""

from __future__ import annotations

import queue
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import torch
from starlette.requests import Request
from starlette.responses import JSONResponse

from projector.studio import ProjectionSlot, StudioNetwork, StudioSession
from stylegan2_core.errors import S2EditError

from .uploads import MAX_DECODED_BYTES, MAX_UPLOAD_BYTES, MAX_UPLOAD_PIXELS, Uploads

__all__ = ["UnknownSession", "Tab", "StudioServer", "LocalOnly", "BackgroundServer"]

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


class UnknownSession(S2EditError):
    """A request without a token of a tab this server holds (expired, never made, or not sent)."""


@dataclass
class Tab:
    """One page's server-side record: its session, its progress events, and its latest slider request."""

    session: StudioSession
    events: queue.Queue = field(default_factory=queue.Queue)
    seq: int = -1  # the newest slider request seen; older ones are dropped
    render_lock: threading.Lock = field(default_factory=threading.Lock)


class StudioServer:
    """The server's shared state: networks, tabs (oldest dropped past ``max_sessions``), the projection slot.

    Args:
        networks: the networks named on the command line.
        outdir: exports go to ``outdir``; uploads are decoded from short-lived files in ``outdir/.uploads``.
        host: the address it listens on (``--host``); requests naming it, or a loopback name, are served.
        render_threads: torch threads per render (None: torch's default).
    """

    def __init__(self, networks: list[StudioNetwork], outdir, max_sessions: int = 32, host: str = "127.0.0.1",
                 max_upload_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_UPLOAD_PIXELS,
                 max_decoded: int = MAX_DECODED_BYTES, render_threads: int | None = None):
        self.networks, self.outdir, self.host = networks, Path(outdir), host
        self.max_sessions, self.max_upload_bytes, self.max_pixels = max_sessions, max_upload_bytes, max_pixels
        self.max_decoded, self.render_threads = max_decoded, render_threads
        self.slot = ProjectionSlot()
        self.uploads = Uploads(self.outdir)
        self.tabs: OrderedDict[str, Tab] = OrderedDict()
        self.closing = False
        self._lock = threading.Lock()

    def new_tab(self) -> str:
        """A new tab's token (unguessable; the page sends it with every API call)."""
        token = secrets.token_urlsafe(24)
        tab = Tab(StudioSession(self.networks, self.outdir, self.slot, token))
        with self._lock:
            self.tabs[token] = tab
            while len(self.tabs) > self.max_sessions:
                self.tabs.popitem(last=False)
        return token

    def tab(self, request: Request) -> tuple[str, Tab]:
        """The tab whose token the request carries: the ``X-Session`` header, or ``?sid=`` on a GET (the event
        stream and download links, which cannot set headers)."""
        token = request.headers.get("x-session")
        if token is None and request.method == "GET":
            token = request.query_params.get("sid")
        with self._lock:
            tab = self.tabs.get(token or "")
            if tab is None:
                raise UnknownSession("this page's session has expired (the server restarted?): reload the page")
            self.tabs.move_to_end(token)
        return token, tab

    def status(self, token: str) -> dict:
        fits = {f"{i}:{g}": list(p) for i, net in enumerate(self.networks) for g, p in net.progress.items()}
        return {"busy": self.slot.busy, "mine": self.slot.owner == token, "fits": fits}

    def set_threads(self) -> None:
        if self.render_threads:
            torch.set_num_threads(self.render_threads)  # per worker thread under OpenMP

    def relative(self, path: Path) -> str:
        """``path`` as the page may show it: relative to ``outdir``."""
        return path.relative_to(self.outdir).as_posix()

    def allowed_hosts(self, local: tuple[str, int] | None) -> set[str]:
        """``Host`` values this connection may name: a loopback name, ``--host`` or the address it arrived on,
        with the port it arrived on (bare when 80)."""
        names = {*LOOPBACK_NAMES, _bracketed(self.host)}
        port = None
        if local:
            names.add(_bracketed(local[0]))
            port = local[1]
        hosts = {f"{n}:{port}" for n in names} if port else set()
        return hosts | (names if port in (80, None) else set())


def _bracketed(host: str) -> str:
    host = host.lower()
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _refusal(message: str):
    return JSONResponse({"error": message}, status_code=403)


class LocalOnly:
    """ASGI middleware: refuses requests that name another host, API requests from another origin, and the
    page when it is embedded or fetched by another site (each served page makes a tab)."""

    def __init__(self, app, server: StudioServer):
        self.app, self.server = app, server

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            refusal = self.check(Request(scope))
            if refusal is not None:
                await _refusal(refusal)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def check(self, request: Request) -> str | None:
        """Why the request is refused, or None."""
        host = request.headers.get("host", "").lower()
        if host not in self.server.allowed_hosts(request.scope.get("server")):
            return f"host {host!r} is not this studio: open it at the address it printed"
        origin, site = request.headers.get("origin"), request.headers.get("sec-fetch-site")
        path = request.url.path
        if path.startswith("/api/"):
            if origin is not None and origin.lower() != f"http://{host}":
                return f"requests from {origin} are refused: only the studio's own page may use it"
            if site in ("cross-site", "same-site"):
                return "cross-site requests are refused: only the studio's own page may use it"
        elif path == "/" and request.headers.get("sec-fetch-dest", "document") != "document":
            return "the studio's page cannot be embedded or fetched by another page"
        return None


class BackgroundServer:
    """Serve an app with uvicorn in a daemon thread (tests, benchmarks, notebooks).

    ``with BackgroundServer(app) as url:`` gives ``http://127.0.0.1:<port>``; ``port=0`` picks a free port.
    """

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0):
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
