"""The ASGI middleware in front of the app: request size limits, and requests from other sites refused.

- **Size**: each route has a body limit (video uploads, paintings, small JSON for the rest). A body is
  counted as it arrives and never reaches the app past the limit; the answer is a ``413`` naming it.
  A client that is still sending when the server answers often never sees the answer (the server's
  close resets the connection), so the rest of a body up to twice the limit is read and dropped
  first; a body declared even larger is refused before a byte of it is read.
- **Host**: a server on loopback answers only requests addressed to a loopback name. Without that, a
  web page could point its own domain at 127.0.0.1 (DNS rebinding) and drive the API as the user.
- **Origin**: a request that changes something (POST, DELETE ...) and comes from a page of another
  origin is refused; a browser sends such a form post without asking first. Scripts send no Origin.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stylecast.runtime.httpserve import LOOPBACK_NAMES, host_name

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class BodyTooLargeError(Exception):
    """Raised into the app when a body passes its limit (the guard answers for it)."""


async def send_json(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """Wraps an ASGI app with the checks of this module.

    Args:
        app: the app.
        limit_for: ``(method, path) -> bytes`` allowed in the request body.
        describe_limit: ``(method, path) -> text`` for the 413 message (what to do instead).
        loopback_only: refuse requests whose Host is not a loopback name (a server bound to loopback).
    """

    def __init__(self, app: ASGIApp, limit_for: Callable[[str, str], int],
                 describe_limit: Callable[[str, str], str], loopback_only: bool) -> None:
        self.app = app
        self.limit_for = limit_for
        self.describe_limit = describe_limit
        self.loopback_only = loopback_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        method, path = scope["method"], scope["path"]
        host = headers.get("host", "")
        if self.loopback_only and host_name(host) not in LOOPBACK_NAMES:
            await send_json(send, 400, f"this server answers requests to 127.0.0.1 or localhost only, not "
                                       f"{host[:100]!r}: open it as http://127.0.0.1:PORT/")
            return
        origin = headers.get("origin")
        if method not in SAFE_METHODS and origin is not None and origin != f"{scope.get('scheme', 'http')}://{host}":
            await send_json(send, 403, f"requests from other sites ({origin[:100]}) are refused: use the page this "
                                       "server serves, or call the API from a script")
            return
        limit = self.limit_for(method, path)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            if int(declared) <= 2 * limit:
                await _drain(receive, 2 * limit)
            await send_json(send, 413, self.describe_limit(method, path))
            return
        await self._with_limit(scope, receive, send, limit, method, path)

    async def _with_limit(self, scope: Scope, receive: Receive, send: Send, limit: int, method: str,
                          path: str) -> None:
        received = 0
        exceeded = False
        started = False
        more = True

        async def limited_receive() -> Message:
            nonlocal received, exceeded, more
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                more = bool(message.get("more_body", False))
                if received > limit:
                    exceeded = True
                    raise BodyTooLargeError(path)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # whatever the app makes of the cut-off body, the answer is the 413 below
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            if more:
                await _drain(receive, 2 * limit - received)
            await send_json(send, 413, self.describe_limit(method, path))


async def _drain(receive: Receive, cap: int) -> None:
    """Read and drop the rest of a request body, up to ``cap`` bytes."""
    dropped = 0
    while dropped <= cap:
        message = await receive()
        if message["type"] != "http.request":
            return  # the client went away
        dropped += len(message.get("body", b""))
        if not message.get("more_body", False):
            return

