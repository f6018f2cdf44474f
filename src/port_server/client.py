"""RegistryClient: a small typed client for port-server's HTTP API, on the standard library only.

It speaks just enough HTTP/1.1 over a plain socket (Content-Length or chunked bodies, keep-alive)
because ``http.client`` alone costs ~40 ms of import time and the CLI is started thousands of times
by scripts. Error bodies become the same exception classes the server raised, chosen by ``code``.
"""

from __future__ import annotations

import json
import os
import socket

from port_server.address import Endpoint, parse_addr, resolve
from port_server.errors import PortServerError, ProtocolError, ServerUnreachable, from_json
from port_server.models import (
    Allocation,
    AllocationFilter,
    AllocationRequest,
    AllocationResult,
    AuditEntry,
    AuditFilter,
    PortStatus,
    ProcessInfo,
    ScanReport,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from port_server.import_plan import ImportReport

MAX_RESPONSE = 64 * 1024 * 1024
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def quote(text: str) -> str:
    """Percent-encode for a path segment or query value (urllib.parse costs start-up time)."""
    return "".join(chr(b) if b in _SAFE else f"%{b:02X}" for b in text.encode())


def urlencode(query: dict[str, str]) -> str:
    return "&".join(f"{quote(k)}={quote(v)}" for k, v in query.items())


# Aliases: the classes below have a method named `list`, which shadows the builtin there.
if TYPE_CHECKING:
    Allocations = list[Allocation]
    Ints = list[int]
    Dicts = list[dict[str, Any]]
    Requests = list[AllocationRequest]
    Reclaimed = list[tuple[Allocation, str]]
    AuditEntries = list[AuditEntry]


def token_from_env(token_file: str | None = None) -> str | None:
    """PORT_SERVER_TOKEN, else the file named by ``token_file`` or PORT_SERVER_TOKEN_FILE."""
    if os.environ.get("PORT_SERVER_TOKEN"):
        return os.environ["PORT_SERVER_TOKEN"]
    path = token_file or os.environ.get("PORT_SERVER_TOKEN_FILE")
    if not path:
        return None
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as fh:
            return fh.read().strip() or None
    except OSError as exc:
        raise ServerUnreachable(f"cannot read token file {path}: {exc.strerror}") from None


class RegistryClient:
    def __init__(self, addr: str | None = None, timeout: float = 30.0,
                 token: str | None = None, token_file: str | None = None) -> None:
        #: Where to connect (see ``address``): without an explicit address, the Unix socket
        #: first (``unix_first``; None once it failed) and TCP as the fallback.
        self.endpoint: Endpoint = resolve(addr)
        self.unix_first = self.endpoint.unix_first
        self.addr = self.endpoint.addr
        self.target = self.endpoint.target
        self.timeout = timeout
        self.token = token if token is not None else token_from_env(token_file)
        self._sock: socket.socket | None = None
        self._buf = b""

    @property
    def via(self) -> str:
        """What this client connects to (after a request: what it really used)."""
        if self.unix_first is not None:
            return f"unix:{self.unix_first}"
        return f"unix:{self.target}" if isinstance(self.target, str) else self.addr

    # -- transport -------------------------------------------------------------------------

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            self._buf = b""

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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

    def request(self, method: str, path: str, body: Any = None,
                query: dict[str, str] | None = None) -> tuple[int, Any]:
        """Send one request; return (status, decoded JSON). Raises on transport failures only."""
        if query:
            path = f"{path}?{urlencode(query)}"
        payload = json.dumps(body).encode() if body is not None else b""
        host = "localhost" if isinstance(self.target, str) or self.unix_first else (
            f"[{self.target[0]}]:{self.target[1]}" if ":" in self.target[0]
            else f"{self.target[0]}:{self.target[1]}")
        head = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Accept: application/json",
                "User-Agent: portctl"]
        if body is not None:
            head += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        if self.token:
            head.append(f"Authorization: Bearer {self.token}")
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

    def _exchange(self, raw: bytes) -> tuple[int, Any]:
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
        try:
            return status, json.loads(data) if data else None
        except ValueError:
            raise ProtocolError(f"port-server at {self.addr} answered {status} with a body that"
                                " is not JSON") from None

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

    def call(self, method: str, path: str, body: Any = None,
             query: dict[str, str] | None = None) -> tuple[int, Any]:
        """Like ``request`` but raises the server's error as its exception class."""
        status, data = self.request(method, path, body, query)
        if status >= 400:
            raise from_json(status, data)
        return status, data

    # -- typed API -------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return dict(self.call("GET", "/healthz")[1])

    def info(self) -> dict[str, Any]:
        return dict(self.call("GET", "/v1/info")[1])

    def proxy(self, action: str = "") -> dict[str, Any]:
        """The proxy's status; ``action`` "start" or "stop" first does that."""
        if action:
            return dict(self.call("POST", f"/v1/proxy/{quote(action)}")[1])
        return dict(self.call("GET", "/v1/proxy")[1])

    def allocate(self, req: AllocationRequest) -> AllocationResult:
        body: dict[str, Any] = {k: v for k, v in req.__dict__.items()
                                if v not in (None, "", False) or k in ("app", "instance",
                                                                        "service")}
        body.pop("pid_start", None)
        if req.ttl is not None:
            body["ttl"] = req.ttl
        if req.http is not None:  # --no-http is False, which the filter above drops
            body["http"] = req.http
        body.pop("expires_at", None)
        status, data = self.call("POST", "/v1/allocations", body)
        return AllocationResult(Allocation.from_dict(data), created=status == 201)

    def list(self, flt: AllocationFilter = AllocationFilter()) -> Allocations:
        _, data = self.call("GET", "/v1/allocations", query=flt.to_query())
        return [Allocation.from_dict(d) for d in data]

    def get(self, alloc_id: int) -> Allocation:
        return Allocation.from_dict(self.call("GET", f"/v1/allocations/{int(alloc_id)}")[1])

    def release_id(self, alloc_id: int, force: bool = False) -> Allocation | None:
        _, data = self.call("DELETE", f"/v1/allocations/{int(alloc_id)}",
                            query={"force": "true"} if force else None)
        alloc = data.get("allocation") if isinstance(data, dict) else None
        return Allocation.from_dict(alloc) if alloc else None

    def release(self, flt: AllocationFilter, force: bool = False) -> Allocations:
        body: dict[str, Any] = {k: v for k, v in flt.__dict__.items() if v is not None}
        if force:
            body["force"] = True
        _, data = self.call("DELETE", "/v1/allocations", body)
        return [Allocation.from_dict(d) for d in data.get("allocations", [])]

    def update(self, alloc_id: int, changes: dict[str, Any], force: bool = False
               ) -> Allocation:
        _, data = self.call("PATCH", f"/v1/allocations/{int(alloc_id)}", changes,
                            query={"force": "true"} if force else None)
        return Allocation.from_dict(data)

    def renew(self, alloc_id: int, ttl: float | str) -> Allocation:
        _, data = self.call("POST", f"/v1/allocations/{int(alloc_id)}/renew", {"ttl": ttl})
        return Allocation.from_dict(data)

    def gc(self, dry_run: bool = False) -> Reclaimed:
        """Reclaim ended leases now; returns (allocation, reason) pairs."""
        _, data = self.call("POST", "/v1/gc", {"dry_run": dry_run})
        return [(Allocation.from_dict(r["allocation"]), str(r["reason"]))
                for r in data.get("reclaimed", [])]

    def log(self, flt: AuditFilter | None = None, since: str | None = None) -> AuditEntries:
        """Audit entries; ``since`` may be an ISO time or a duration ago ("2h")."""
        flt = flt or AuditFilter()
        query = {k: str(v) for k, v in (("app", flt.app), ("port", flt.port),
                                        ("action", flt.action), ("actor", flt.actor),
                                        ("since", since or flt.since), ("limit", flt.limit))
                 if v is not None}
        _, data = self.call("GET", "/v1/log", query=query)
        return [AuditEntry(**e) for e in data]

    def whoami(self) -> dict[str, Any]:
        return dict(self.call("GET", "/v1/whoami")[1])

    def check_port(self, port: int) -> PortStatus:
        _, data = self.call("GET", f"/v1/ports/{quote(str(port))}")
        holders = tuple(Allocation.from_dict(h) for h in data.get("holders", []))
        holder = data.get("holder")
        return PortStatus(
            port=data["port"], available=data["available"],
            holder=Allocation.from_dict(holder) if holder else None, holders=holders,
            in_use=data.get("in_use", False),
            processes=tuple(ProcessInfo(**p) for p in data.get("processes", [])))

    def pools(self) -> Dicts:
        return list(self.call("GET", "/v1/pools")[1])

    def suggest(self, pool: str, count: int = 1) -> Ints:
        _, data = self.call("GET", f"/v1/pools/{quote(pool or 'default')}/suggest",
                            query={"count": str(count)})
        return [int(p) for p in data]

    def sync_dokploy(self, desired: Requests, dry_run: bool = False,
                     host: str | None = None) -> dict[str, Any]:
        """Send Dokploy's desired allocations; the server plans (and unless ``dry_run``
        applies) the sync in one transaction and answers with the plan."""
        fields = ("app", "instance", "service", "port", "protocol", "type", "environment",
                  "status", "url", "note")
        body: dict[str, Any] = {
            "allocations": [{f: getattr(r, f) for f in fields} for r in desired],
            "dry_run": dry_run}
        if host:
            body["host"] = host
        return dict(self.call("POST", "/v1/sync/dokploy", body)[1])

    def scan(self, state: str | None = None, app: str | None = None,
             port_range: str | None = None, details: bool = False) -> ScanReport:
        """GET /v1/scan: live listeners joined with the registry (see scanners/live.py)."""
        return ScanReport.from_dict(self.scan_json(state, app, port_range, details))

    def scan_json(self, state: str | None = None, app: str | None = None,
                  port_range: str | None = None, details: bool = False) -> dict[str, Any]:
        """The scan report as the server sent it (``--json`` prints it without a round trip)."""
        query = {k: v for k, v in (("state", state), ("app", app), ("port_range", port_range))
                 if v}
        if details:
            query["details"] = "true"
        return dict(self.call("GET", "/v1/scan", query=query)[1])

    def import_allocations(self, entries: Sequence[Allocation], force: bool = False,
                           dry_run: bool = False) -> ImportReport:
        """POST /v1/import: all entries or none; a refused import raises ImportConflict whose
        ``extra["report"]`` says why."""
        from port_server.import_plan import ImportReport

        keep = ("app", "instance", "service", "port", "protocol", "type", "owner",
                "environment", "status", "url", "note", "source", "protected", "created_at",
                "updated_at")
        body = {"allocations": [{k: getattr(e, k) for k in keep} for e in entries],
                "force": force, "dry_run": dry_run}
        _, data = self.call("POST", "/v1/import", body)
        return ImportReport.from_dict(data)


class _EmptyResponse(Exception):
    """The server closed the connection before answering."""


__all__ = ["PortServerError", "RegistryClient", "parse_addr"]
