"""How ``RegistryClient`` reaches a server: the ``Transport`` seam and the socket transport.

``SocketTransport`` speaks just enough HTTP/1.1 over a plain socket (Content-Length or chunked
bodies, keep-alive) because ``http.client`` alone costs ~40 ms of import time and the CLI is
started thousands of times by scripts. Without an explicit address it tries the server's Unix
socket first and falls back to TCP. Tests swap in a transport that calls the ASGI app in process.
"""

from __future__ import annotations

import socket

from port_server.address import Endpoint
from port_server.errors import ProtocolError, ServerUnreachable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Protocol

    Headers = Sequence[tuple[str, str]]

    class Transport(Protocol):
        @property
        def via(self) -> str:
            """What requests go to, for messages (``unix:/path``, ``127.0.0.1:51234``)."""
            ...

        def exchange(self, method: str, path: str, headers: Headers,
                     payload: bytes) -> tuple[int, bytes]:
            """Send one request (``path`` with its query); return (status, body bytes).
            Transport failures raise ServerUnreachable or ProtocolError."""
            ...

        def close(self) -> None: ...
else:
    Transport = object

MAX_RESPONSE = 64 * 1024 * 1024


class _EmptyResponse(Exception):
    """The server closed the connection before answering."""


class SocketTransport:
    def __init__(self, endpoint: Endpoint, timeout: float = 30.0) -> None:
        #: The Unix socket to try first (None once it failed), then ``target``.
        self.unix_first = endpoint.unix_first
        self.addr = endpoint.addr
        self.target = endpoint.target
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buf = b""

    @property
    def via(self) -> str:
        if self.unix_first is not None:
            return f"unix:{self.unix_first}"
        return f"unix:{self.target}" if isinstance(self.target, str) else self.addr

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            self._buf = b""

    def _connect(self) -> socket.socket:
        if self.unix_first is not None:
            try:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                sock.connect(self.unix_first)
                return sock
            except OSError:  # a stale socket file: the TCP address may still answer
                sock.close()
                self.unix_first = None
        try:
            if isinstance(self.target, str):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                sock.connect(self.target)
            else:
                sock = socket.create_connection(self.target, timeout=self.timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            if isinstance(exc, ConnectionRefusedError):
                reason = "connection refused"
            raise ServerUnreachable(
                f"cannot reach port-server at {self.addr} ({reason}); start it with"
                " `port-server &` or `portctl start`") from None
        return sock

    def _host(self) -> str:
        if isinstance(self.target, str) or self.unix_first:
            return "localhost"
        host, port = self.target
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def exchange(self, method: str, path: str, headers: Headers,
                 payload: bytes) -> tuple[int, bytes]:
        head = [f"{method} {path} HTTP/1.1", f"Host: {self._host()}"]
        head += [f"{name}: {value}" for name, value in headers]
        if payload:
            head.append(f"Content-Length: {len(payload)}")
        raw = ("\r\n".join(head) + "\r\n\r\n").encode() + payload
        reused = self._sock is not None
        try:
            return self._exchange(raw)
        except (ConnectionError, _EmptyResponse):
            self.close()
            if not reused:
                raise ServerUnreachable(
                    f"port-server at {self.addr} closed the connection; is it running?"
                    " (`portctl status`)") from None
            return self._exchange(raw)  # a kept-alive connection the server had closed
        except TimeoutError:
            self.close()
            raise ServerUnreachable(
                f"port-server at {self.addr} did not answer within {self.timeout:g}s") from None

    def _exchange(self, raw: bytes) -> tuple[int, bytes]:
        if self._sock is None:
            self._sock = self._connect()
            self._buf = b""
        self._sock.sendall(raw)
        status, headers = self._read_head()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            data = self._read_chunked()
        elif "content-length" in headers:
            data = self._read_exact(int(headers["content-length"]))
        else:
            data = self._read_to_close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, data

    def _fill(self) -> None:
        assert self._sock is not None
        chunk = self._sock.recv(65536)
        if not chunk:
            raise _EmptyResponse()
        self._buf += chunk
        if len(self._buf) > MAX_RESPONSE:
            raise ProtocolError("response too large")

    def _read_head(self) -> tuple[int, dict[str, str]]:
        while b"\r\n\r\n" not in self._buf:
            self._fill()
        head, self._buf = self._buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise ProtocolError(f"{self.addr} does not speak HTTP; is it port-server?")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(parts[1]), headers

    def _read_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            self._fill()
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def _read_chunked(self) -> bytes:
        out = b""
        while True:
            while b"\r\n" not in self._buf:
                self._fill()
            size_line, self._buf = self._buf.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            chunk = self._read_exact(size + 2)[:size]
            if size == 0:
                return out
            out += chunk

    def _read_to_close(self) -> bytes:
        try:
            while True:
                self._fill()
        except _EmptyResponse:
            pass
        data, self._buf = self._buf, b""
        self.close()
        return data
