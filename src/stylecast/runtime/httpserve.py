"""A small threaded HTTP server on its own daemon thread (the MJPEG sink, the control endpoint), and the
network helpers they and the web app share: addresses, loopback, Host headers."""

from __future__ import annotations

import http.server
import ipaddress
import socket
import socketserver
import threading
from typing import Any

from stylecast.errors import InputError


class BackgroundHTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True  # a client stuck on a slow network never holds the process open
    allow_reuse_address = True  # a restart right after a stop can take the same port
    block_on_close = False


class ServerThread:
    """Binds ``server_class`` on ``start()`` and serves it from a daemon thread until ``close()``.

    Args:
        what: how the error message names the service, e.g. ``"serve MJPEG"``.
        example: a working option to suggest when the port is taken, e.g. ``"mjpeg://127.0.0.1:8081"``.
    """

    def __init__(self, server_class: type[BackgroundHTTPServer], handler: type[http.server.BaseHTTPRequestHandler],
                 host: str, port: int, name: str, what: str, example: str) -> None:
        self.server_class, self.handler = server_class, handler
        self.host, self.port, self.name, self.what, self.example = host, port, name, what, example
        self.server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> Any:
        """Bind and start serving; returns the server so the caller can attach its state to it."""
        try:
            server = self.server_class((self.host, self.port), self.handler)
        except OSError as error:
            import errno
            import socket

            if error.errno == errno.EADDRINUSE:
                fix = f"the port is taken: choose a free one, e.g. {self.example}"
            elif error.errno == errno.EACCES:
                fix = f"ports under 1024 need administrator rights: choose a higher one, e.g. {self.example}"
            elif isinstance(error, socket.gaierror) or error.errno == errno.EADDRNOTAVAIL:
                fix = (f"{self.host} is not an address of this machine: use 127.0.0.1 (this machine) or 0.0.0.0 "
                       f"(every network), e.g. {self.example}")
            else:
                fix = f"choose another address or port, e.g. {self.example}"
            raise InputError(f"cannot {self.what} on {self.host}:{self.port} ({error.strerror or error}): "
                             f"{fix}") from error
        self.port = server.server_address[1]  # port 0 asks the system for a free one
        self.server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=self.name, daemon=True)
        self._thread.start()
        return server

    def url(self, path: str = "/") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2.0)


def parse_host_port(text: str, what: str, example: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT``, ``:PORT`` or ``PORT`` (loopback) as ``(host, port)``.

    Raises:
        InputError: no port, or one outside 0..65535 (0 asks the system for a free port).
    """
    text = text.strip().rstrip("/")
    if text.startswith("["):
        host, _, port_text = text[1:].partition("]")
        port_text = port_text.lstrip(":")
    elif ":" in text:
        host, _, port_text = text.rpartition(":")
    else:
        host, port_text = "", text
    try:
        port = int(port_text)
    except ValueError:
        raise InputError(f"{what} needs HOST:PORT, e.g. {example}") from None
    if not 0 <= port <= 65535:
        raise InputError(f"{what}: port {port} is outside 0..65535; e.g. {example}")
    return host or default_host, port


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
        except OSError:
            return False


#: Host names a loopback-bound server answers to: never a DNS name, which a page can point anywhere.
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def host_name(host_header: str) -> str:
    """``"[::1]:8000"`` -> ``"::1"``, ``"localhost:8000"`` -> ``"localhost"`` (lowercase)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host
