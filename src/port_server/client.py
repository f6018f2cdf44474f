"""RegistryClient: a small typed client for port-server's HTTP API, on the standard library only.

It speaks just enough HTTP/1.1 over a plain socket (Content-Length or chunked bodies, keep-alive)
because ``http.client`` alone costs ~40 ms of import time and the CLI is started thousands of times
by scripts. Error bodies become the same exception classes the server raised, chosen by ``code``.
"""

from __future__ import annotations

import json
import os

from port_server.address import Endpoint, parse_addr, resolve
from port_server.errors import (
    InvalidInput,
    PortServerError,
    ProtocolError,
    ServerUnreachable,
    from_json,
)
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
from port_server.transport import SocketTransport, Transport

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from port_server.import_plan import ImportReport

#: A 503 with Retry-After is retried this many times, waiting what the server asks but at most
#: RETRY_WAIT_MAX each and RETRY_BUDGET in all, for requests safe to repeat: reads, and
#: allocation (idempotent by identity).
RETRIES = 3
RETRY_WAIT_MAX = 3.0
RETRY_BUDGET = 8.0
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
        return check_token(os.environ["PORT_SERVER_TOKEN"], "PORT_SERVER_TOKEN")
    path = token_file or os.environ.get("PORT_SERVER_TOKEN_FILE")
    if not path:
        return None
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as fh:
            token = fh.read().strip()
    except OSError as exc:
        raise ServerUnreachable(f"cannot read token file {path}: {exc.strerror}") from None
    return check_token(token, f"token file {path}") if token else None


def check_token(token: str, where: str = "token") -> str:
    """A bearer token goes into a header line: a CR, LF or other control character (or a
    space) would end the header and add lines of the sender's choosing, so it is refused."""
    bad = next((c for c in token if ord(c) < 33 or ord(c) == 127), None)
    if bad is not None:
        raise InvalidInput(f"{where}: the token contains a control character or space"
                           f" ({bad!r}); tokens are one line of printable characters",
                           field="token")
    return token


class RegistryClient:
    """The typed API over a ``Transport``: by default HTTP over a socket to the daemon; tests
    pass one that calls an ASGI app in process."""

    def __init__(self, addr: str | None = None, timeout: float = 30.0,
                 token: str | None = None, token_file: str | None = None,
                 transport: Transport | None = None, ca_file: str | None = None) -> None:
        #: Where to connect (see ``address``): without an explicit address, the Unix socket
        #: first and TCP as the fallback.
        self.endpoint: Endpoint = resolve(addr)
        self.addr = self.endpoint.addr
        self.target = self.endpoint.target
        self.timeout = timeout
        self.token = check_token(token) if token is not None else token_from_env(token_file)
        ca_file = ca_file or os.environ.get("PORT_SERVER_CA_FILE") or None
        self.transport: Transport = (transport if transport is not None
                                     else SocketTransport(self.endpoint, timeout, ca_file))

    @property
    def via(self) -> str:
        """What this client connects to (after a request: what it really used)."""
        return self.transport.via

    # -- transport -------------------------------------------------------------------------

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, body: Any = None,
                query: dict[str, str] | None = None) -> tuple[int, Any]:
        """Send one request; return (status, decoded JSON). Raises on transport failures only."""
        if query:
            path = f"{path}?{urlencode(query)}"
        payload = json.dumps(body).encode() if body is not None else b""
        headers = [("Accept", "application/json"), ("User-Agent", "portctl")]
        if body is not None:
            headers.append(("Content-Type", "application/json"))
        if self.token:
            headers.append(("Authorization", f"Bearer {self.token}"))
        status, data = self.transport.exchange(method, path, headers, payload)
        try:
            return status, json.loads(data) if data else None
        except ValueError:
            raise ProtocolError(f"port-server at {self.addr} answered {status} with a body that"
                                " is not JSON") from None

    def call(self, method: str, path: str, body: Any = None,
             query: dict[str, str] | None = None, retry: bool | None = None) -> tuple[int, Any]:
        """Like ``request`` but raises the server's error as its exception class. A 503 with
        Retry-After (the store briefly unavailable; nothing was applied) is retried, bounded,
        when ``retry``: by default for reads (not /healthz, whose answer is the point)."""
        if retry is None:
            retry = method == "GET" and path != "/healthz"
        waited = 0.0
        for attempt in range(RETRIES + 1):
            status, data = self.request(method, path, body, query)
            wait = self._retry_after() if retry and status == 503 else None
            if wait is None or attempt == RETRIES or waited + wait > RETRY_BUDGET:
                break
            import time

            time.sleep(wait)
            waited += wait
        if status >= 400:
            raise from_json(status, data)
        return status, data

    def _retry_after(self) -> float | None:
        headers: dict[str, str] = getattr(self.transport, "last_headers", {})
        try:
            seconds = float(headers["retry-after"])
        except (KeyError, ValueError):
            return None
        return min(max(seconds, 0.05), RETRY_WAIT_MAX)

    # -- typed API -------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return dict(self.call("GET", "/healthz")[1])

    def info(self) -> dict[str, Any]:
        return dict(self.call("GET", "/v1/info")[1])

    def proxy(self, action: str = "", all_hosts: bool = False) -> dict[str, Any]:
        """The proxy's status; ``action`` "start" or "stop" first does that (``all_hosts``:
        start routing other hosts' allocations too)."""
        if action:
            query = {"all_hosts": "true"} if all_hosts else None
            return dict(self.call("POST", f"/v1/proxy/{quote(action)}", query=query)[1])
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
        # Safe to repeat: the same app/instance/service gets the same port, created or not.
        status, data = self.call("POST", "/v1/allocations", body, retry=True)
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
        from port_server.fields import EXPORTED as keep
        from port_server.import_plan import ImportReport

        body = {"allocations": [{k: getattr(e, k) for k in keep} for e in entries],
                "force": force, "dry_run": dry_run}
        _, data = self.call("POST", "/v1/import", body)
        return ImportReport.from_dict(data)


__all__ = ["PortServerError", "RegistryClient", "parse_addr"]
