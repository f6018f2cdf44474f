"""How ``RegistryClient`` reaches a server: the ``Transport`` seam and the socket transport.

``SocketTransport`` speaks just enough HTTP/1.1 over a plain socket (Content-Length or chunked
bodies, keep-alive) because ``http.client`` alone costs ~40 ms of import time and the CLI is
started thousands of times by scripts. Without an explicit address it tries the server's Unix
socket first and falls back to TCP. Tests swap in a transport that calls the ASGI app in process.

``https://`` addresses speak TLS and verify the server's certificate (the system's CAs, or a CA
file); ``ssl`` is imported only then. A kept-alive connection the server closed while idle is
noticed before a request is sent; one that drops after sending is retried only for requests
that are safe to repeat (GET, HEAD, OPTIONS): a repeated POST or PATCH could apply twice.
"""

from __future__ import annotations

import socket

from port_server.address import Endpoint
from port_server.errors import InvalidInput, ProtocolError, ServerUnreachable

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
SAFE_TO_REPEAT = frozenset({"GET", "HEAD", "OPTIONS"})


class _EmptyResponse(Exception):
    """The server closed the connection before answering."""


def _dropped(sock: socket.socket) -> bool:
    """Whether an idle kept-alive connection is readable, i.e. the server closed it (or sent
    something unasked): either way it must not carry the next request."""
    import select

    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class SocketTransport:
    def __init__(self, endpoint: Endpoint, timeout: float = 30.0,
                 ca_file: str | None = None) -> None:
        #: The Unix socket to try first (None once it failed), then ``target``.
        self.unix_first = endpoint.unix_first
        self.addr = endpoint.addr
        self.target = endpoint.target
        self.tls = endpoint.tls
        self.ca_file = ca_file
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buf = b""
        #: The last response's headers (lower-case names): the client reads Retry-After here.
        self.last_headers: dict[str, str] = {}

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
        if self.tls and not isinstance(self.target, str):
            return self._wrap_tls(sock, self.target[0])
        return sock

    def _wrap_tls(self, sock: socket.socket, host: str) -> socket.socket:
        """TLS with the server's certificate and name verified (never unverified)."""
        import ssl

        try:
            context = ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            sock.close()
            raise InvalidInput(f"--ca-file {self.ca_file}: cannot load it"
                               f" ({getattr(exc, 'strerror', None) or exc})",
                               field="ca_file") from None
        try:
            return context.wrap_socket(sock, server_hostname=host)
        except ssl.SSLCertVerificationError as exc:
            sock.close()
            raise ServerUnreachable(
                f"port-server at {self.addr}: its TLS certificate is not trusted"
                f" ({exc.verify_message}); pass --ca-file (or set PORT_SERVER_CA_FILE) to the"
                " CA that signed it") from None
        except (ssl.SSLError, OSError) as exc:
            sock.close()
            raise ServerUnreachable(
                f"port-server at {self.addr}: TLS handshake failed ({exc}); is it serving"
                " https? Use http:// (or no scheme) for a plain server") from None

    def _host(self) -> str:
        if isinstance(self.target, str) or self.unix_first:
            return "localhost"
        host, port = self.target
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def exchange(self, method: str, path: str, headers: Headers,
                 payload: bytes) -> tuple[int, bytes]:
        head = [f"{method} {path} HTTP/1.1", f"Host: {self._host()}"]
        for name, value in headers:  # a CR or LF would start a header of its own
            if any(c in "\r\n\0" for c in name + value):
                raise InvalidInput(f"header {name}: contains a line break; refusing to send it",
                                   field=name.lower())
            head.append(f"{name}: {value}")
        if any(c in "\r\n\0 " for c in path):
            raise InvalidInput(f"path {path!r}: contains a space or line break", field="path")
        if payload:
            head.append(f"Content-Length: {len(payload)}")
        raw = ("\r\n".join(head) + "\r\n\r\n").encode() + payload
        if self._sock is not None and _dropped(self._sock):
            self.close()  # the server closed it while idle: nothing was sent on it
        reused = self._sock is not None
        try:
            return self._exchange(raw)
        except (ConnectionError, _EmptyResponse):
            self.close()
            if not reused:
                raise ServerUnreachable(
                    f"port-server at {self.addr} closed the connection; is it running?"
                    " (`portctl status`)") from None
            if method not in SAFE_TO_REPEAT:
                raise ServerUnreachable(
                    f"port-server at {self.addr} dropped the connection after the {method}"
                    " was sent; it may or may not have been applied: check (e.g. `portctl"
                    " list`) before repeating it") from None
            return self._exchange(raw)  # a read on a kept-alive connection: safe to repeat
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
        self.last_headers = headers
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
