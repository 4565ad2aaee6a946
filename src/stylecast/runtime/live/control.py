"""Live controls for ``stylecast live``: a local HTTP endpoint and the window's keyboard.

HTTP (``--control 127.0.0.1:PORT``; loopback unless told otherwise):

- ``GET /state``: the controls (``style``, ``strength``, ``preserve_color``, ``stabilize``), the model's
  ``styles`` and the current ``stats``, as JSON.
- ``POST /state`` with a JSON object holding any of those four fields: applies them and answers with
  the new state; a bad value is a ``400`` whose ``error`` says what is wrong and what to send. A style
  change crossfades (see ``stylecast.runtime.live``).

A POST must say ``Content-Type: application/json``. Browsers send such a request across origins only
after a CORS preflight, which this server never grants, so a web page cannot drive the stream of a
person who visits it (plain form posts are refused).

Keys (window sink): see :data:`KEY_HELP`.
"""

from __future__ import annotations

import http.server
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import urlsplit

from stylecast.errors import StylecastError
from stylecast.runtime.httpserve import (
    LOOPBACK_NAMES,
    BackgroundHTTPServer,
    ServerThread,
    host_name,
    is_loopback,
    parse_host_port,
)

MAX_BODY_BYTES = 64 * 1024  # a state update is a few dozen bytes: anything big is a mistake or abuse
STRENGTH_STEP = 0.1

#: Window keys and what they do (shown with ``h``).
KEY_HELP: tuple[tuple[str, str], ...] = (
    ("1-9", "the model's 1st..9th style"),
    ("n / right", "next style"),
    ("p / left", "previous style"),
    ("+ / up", "more style (strength +0.1)"),
    ("- / down", "less style (strength -0.1)"),
    ("] / [", "trained knob toward the painting / the photo (+-0.1)"),
    ("c", "preserve colour on/off"),
    ("s", "stabilise on/off"),
    ("o", "stats overlay on/off"),
    ("h", "this help on/off"),
    ("q / esc", "quit"),
)


class Controllable(Protocol):
    """What the controls act on: the live pipeline's shared settings."""

    styles: Sequence[str]

    def state(self) -> dict[str, Any]:
        """``style``, ``strength``, ``knob``, ``preserve_color``, ``stabilize``."""
        ...

    def update(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Apply any of the fields; the new state. Raises ``StylecastError`` for a bad value."""
        ...


def handle_key(key: str, controls: Controllable) -> str | None:
    """Apply a window key to ``controls``.

    Returns:
        ``"quit"``, ``"overlay"`` or ``"help"`` for the pipeline and window to act on; ``None`` when
        the key changed a control or means nothing.
    """
    key = key.lower()
    if key in ("q", "escape", "quit"):
        return "quit"
    if key in ("o", "h"):
        return "overlay" if key == "o" else "help"
    state = controls.state()
    styles = list(controls.styles)
    if key.isdigit() and key != "0":
        index = int(key) - 1
        if index < len(styles):
            controls.update({"style": styles[index]})
    elif key in ("n", "right", "p", "left") and styles:
        current = styles.index(state["style"]) if state["style"] in styles else -1
        step = 1 if key in ("n", "right") else -1
        controls.update({"style": styles[(current + step) % len(styles)]})
    elif key in ("+", "=", "up", "-", "down"):
        change = STRENGTH_STEP if key in ("+", "=", "up") else -STRENGTH_STEP
        controls.update({"strength": round(min(1.0, max(0.0, state["strength"] + change)), 3)})
    elif key in ("[", "]") and state.get("knob") is not None:
        change = STRENGTH_STEP if key == "]" else -STRENGTH_STEP
        controls.update({"knob": round(min(1.0, max(0.0, state["knob"] + change)), 3)})
    elif key == "c":
        controls.update({"preserve_color": not state["preserve_color"]})
    elif key == "s":
        controls.update({"stabilize": not state["stabilize"]})
    return None


class _ControlHTTPServer(BackgroundHTTPServer):
    controls: Controllable
    stats: Callable[[], dict[str, Any]]


class _ControlHandler(http.server.BaseHTTPRequestHandler):
    server: _ControlHTTPServer
    timeout = 10.0  # a client that never sends its body cannot hold a thread

    def _foreign(self) -> bool:
        """Refuse a request that a web page of another site could make, as ``stylecast serve`` does: on
        loopback, a Host that is not a loopback name (DNS rebinding: 400); anywhere, a POST whose
        Origin is another origin (403). Scripts send no Origin."""
        host = self.headers.get("Host", "")
        if is_loopback(str(self.server.server_address[0])) and host_name(host) not in LOOPBACK_NAMES:
            self._reply(400, {"error": f"this control endpoint answers requests to 127.0.0.1 or localhost only, not "
                                       f"{host[:100]!r}: use http://127.0.0.1:PORT/state"})
            return True
        origin = self.headers.get("Origin")
        if self.command == "POST" and origin is not None and origin != f"http://{host}":
            self._reply(403, {"error": f"requests from other sites ({origin[:100]}) are refused: change the "
                                       "stream from a script or the window keys"})
            return True
        return False

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        if self._foreign():
            return
        if urlsplit(self.path).path != "/state":
            self._reply(404, {"error": "unknown path: GET or POST /state"})
            return
        self._reply(200, self._full_state())

    def do_POST(self) -> None:  # noqa: N802
        if self._foreign():
            return
        if urlsplit(self.path).path != "/state":
            self._reply(404, {"error": "unknown path: POST /state"})
            return
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            # Required: a form or text/plain POST from another site's page needs no CORS preflight.
            self._reply(415, {"error": "send the new state as JSON with Content-Type: application/json "
                                       "(curl: -H 'Content-Type: application/json')"})
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._reply(411, {"error": "send a Content-Length header with the JSON body"})
            return
        if not 0 < length <= MAX_BODY_BYTES:
            self._reply(413, {"error": f"the body must be 1..{MAX_BODY_BYTES} bytes of JSON"})
            return
        try:
            fields = json.loads(self.rfile.read(length))
        except (ValueError, UnicodeDecodeError):
            self._reply(400, {"error": 'the body is not JSON: send e.g. {"style": "NAME", "strength": 0.8}'})
            return
        if not isinstance(fields, dict):
            self._reply(400, {"error": 'send a JSON object, e.g. {"style": "NAME", "strength": 0.8}'})
            return
        try:
            self.server.controls.update(fields)
        except StylecastError as error:
            self._reply(400, {"error": str(error)})
            return
        self._reply(200, self._full_state())

    def _full_state(self) -> dict[str, Any]:
        return {**self.server.controls.state(), "styles": list(self.server.controls.styles),
                "stats": self.server.stats()}

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # the stats line is the terminal's; requests are not news


class ControlServer:
    """The HTTP control endpoint, served from a daemon thread; a context manager that always closes it.

    Args:
        address: ``HOST:PORT`` or ``PORT`` (loopback). Port 0 picks a free port (see :attr:`url`).
        controls: the shared settings.
        stats: returns the current stats for ``GET /state``.
    """

    def __init__(self, address: str, controls: Controllable, stats: Callable[[], dict[str, Any]]) -> None:
        host, port = parse_host_port(address, what=f"--control {address!r}", example="127.0.0.1:8765")
        self.host = host
        if not is_loopback(self.host):
            print(f"stylecast: warning: the control endpoint listens on {self.host}: anyone who can reach this "
                  "machine can change the stream; use 127.0.0.1 unless you mean it", file=sys.stderr)
        self._controls, self._stats = controls, stats
        self._serving = ServerThread(_ControlHTTPServer, _ControlHandler, host, port, "stylecast-control",
                                     "listen for controls", "--control 127.0.0.1:8765")

    def __enter__(self) -> ControlServer:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    @property
    def port(self) -> int:
        return int(self._serving.port)

    def start(self) -> None:
        server = self._serving.start()
        server.controls, server.stats = self._controls, self._stats

    @property
    def url(self) -> str:
        return self._serving.url("/state")

    def close(self) -> None:
        self._serving.close()
