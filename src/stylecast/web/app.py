"""``stylecast serve``: the ASGI app (FastAPI) behind the page, and the REST API that scripts use too.

The page (``static/``) is a client of the API like any script; FastAPI documents the API at
``/openapi.json`` and ``/docs``. The routes (``routes.py``) share one ``WebApp`` (``service.py``, which
also describes the data dir); this module builds the app around them (the guard, error answers, the
page) and serves it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from stylecast._version import __version__
from stylecast.errors import InputError, MissingDependencyError, StylecastError
from stylecast.runtime.httpserve import is_loopback
from stylecast.web.errors import (
    status_for,
)
from stylecast.web.guard import Guard
from stylecast.web.routes import jobs_router, live_router, styles_router
from stylecast.web.rtc import describe_validation_error
from stylecast.web.service import JSON_BODY_LIMIT, MB, STATIC_DIR, ServeSettings, WebApp

log = logging.getLogger("stylecast.web")


def _error_response(error: StylecastError) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=status_for(error))


# Over 60 lines on purpose: the app's whole assembly (lifespan, guard, error answers, page, routers) in order.
def create_app(web: WebApp, on_ready: Callable[[], None] | None = None) -> FastAPI:
    """The FastAPI app over ``web``; ``on_ready`` runs once it serves (the CLI prints the URL)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(web.warm_up)
        web.worker.start()
        if on_ready is not None:
            on_ready()
        try:
            yield
        finally:
            await web.hub.close_all()
            if await asyncio.to_thread(web.worker.stop):
                web.store.close()  # else the worker, stuck in a step it cannot leave, still writes to it
            web.release()

    app = FastAPI(title="stylecast", version=__version__, lifespan=lifespan,
                  description="Real-time style transfer: live in the browser over WebRTC, video jobs, and the "
                              "styles with their credits. Errors answer `{\"detail\": \"...\"}` naming the "
                              "problem and the fix.")
    settings = web.settings
    upload_limit, painting_limit = int(settings.max_upload_mb * MB), int(settings.max_painting_mb * MB)

    def limit_for(method: str, path: str) -> int:
        if method == "POST" and path == "/api/jobs":
            return upload_limit
        if method == "POST" and path == "/api/paintings":
            return painting_limit
        return JSON_BODY_LIMIT

    def describe_limit(method: str, path: str) -> str:
        limit = limit_for(method, path)
        what = {upload_limit: "video", painting_limit: "painting"}.get(limit, "request")
        return (f"the {what} is over the server's limit of {limit / MB:.0f} MB: send a smaller file"
                + (" (the server's --max-upload-mb sets the limit)" if what == "video" else ""))

    app.add_middleware(Guard, limit_for=limit_for, describe_limit=describe_limit,
                       loopback_only=is_loopback(settings.host))

    @app.exception_handler(StylecastError)
    async def stylecast_error(request: Request, error: StylecastError) -> JSONResponse:
        return _error_response(error)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": describe_validation_error(error.errors())}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, error: Exception) -> JSONResponse:
        log.error("unexpected error in %s %s", request.method, request.url.path, exc_info=error)
        return JSONResponse({"detail": "the server hit an unexpected error: its log has the details"},
                            status_code=500)

    # --- the page ---------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-store"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    app.include_router(styles_router(web))
    app.include_router(jobs_router(web))
    app.include_router(live_router(web))
    return app


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one), or an ``InputError`` saying what to change."""
    if not 0 <= port <= 65535:
        raise InputError(f"--port {port} is outside 0..65535: e.g. --port 8000")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as error:
        raise InputError(f"--host {host!r} is not a name or address this machine can listen on "
                         f"({getattr(error, 'strerror', None) or error}): use 127.0.0.1 (this machine only)") from error
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart can take the port of a stopped server
        sock.bind(address)
        sock.listen(128)
    except OSError as error:
        sock.close()
        if error.errno == 99:  # EADDRNOTAVAIL
            raise InputError(f"--host {host!r} is not an address of this machine: use 127.0.0.1 (this machine "
                             "only), or one of its network addresses") from error
        raise InputError(f"cannot serve on {host}:{port} ({error.strerror or error}): choose a free port, e.g. "
                         f"--port {port + 1 if 0 < port < 65535 else 8001}") from error
    return sock


def serve(settings: ServeSettings) -> None:
    """Run the server until Ctrl-C or SIGTERM; prints ``stylecast: serving on URL`` once it is ready."""
    try:
        import uvicorn
    except ImportError as error:
        raise MissingDependencyError("the web app needs its extra: `pip install 'stylecast[web]'`") from error
    sock = bind(settings.host, settings.port)
    # uvicorn shuts down gracefully on these signals, then raises them again once its own handlers are
    # gone: with these handlers in place, that ends here instead of killing the process with the signal.
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if not is_loopback(settings.host):
            print(f"stylecast: warning: serving on {settings.host}: anyone who can reach this machine can use the "
                  "camera page, upload files and start jobs; use 127.0.0.1 unless you mean it", file=sys.stderr)
        to_stderr = logging.StreamHandler(sys.stderr)
        to_stderr.setFormatter(logging.Formatter("stylecast: %(message)s"))
        log.addHandler(to_stderr)
        log.setLevel(logging.INFO)
        web = WebApp(settings)
        host, port = sock.getsockname()[:2]
        web.url = f"http://{f'[{host}]' if ':' in host else host}:{port}/"

        def ready() -> None:
            print(f"stylecast: serving on {web.url} (Ctrl-C stops)", flush=True)

        config = uvicorn.Config(create_app(web, on_ready=ready), log_level="warning", access_log=False,
                                timeout_graceful_shutdown=5)
        uvicorn.Server(config).run(sockets=[sock])
    except _Stopped:
        pass
    finally:
        sock.close()
        for sig, previous_handler in previous.items():
            signal.signal(sig, previous_handler)


class _Stopped(Exception):
    """Ctrl-C or SIGTERM: the normal way to stop a server, so ``serve`` returns rather than fails."""


def _stop(signum: int, frame: object) -> None:
    raise _Stopped(signum)
