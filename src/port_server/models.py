"""Plain data shared by every layer: frozen records, no behaviour beyond (de)serialisation.

This module is the bottom layer: it imports nothing else from the package but ``records``
(dataclass semantics without the start-up cost of ``dataclasses``) and ``audit_records``.
"""

from __future__ import annotations

import re

# Re-exported: the audit records live in their own module to keep this one small.
from port_server.audit_records import AUDIT_ACTIONS as AUDIT_ACTIONS
from port_server.audit_records import Actor as Actor
from port_server.audit_records import AuditEntry as AuditEntry
from port_server.audit_records import AuditFilter as AuditFilter
from port_server.records import Record, field, to_plain

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: app/instance/service names: 1-63 characters, letters, digits, ".", "_", "-", starting alnum.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
NAME_RE = re.compile(NAME_PATTERN)
_NAME_BAD = re.compile(r"[^A-Za-z0-9._-]+")


def registry_name(text: str) -> str:
    """Fold any text ("FibreFlow Production", a branch name) into a valid name."""
    cleaned = _NAME_BAD.sub("-", text).strip("-._")[:63].rstrip("-._")
    return cleaned or "default"

PROTOCOLS = ("tcp", "udp")
SOURCES = ("manual", "compose", "dokploy", "scan", "import", "run")


class Allocation(Record):
    """One port held by one app/instance/service on one host.

    The first six fields are port-registry's v1 wire shape; everything after them is additive.
    """

    id: int
    app: str
    instance: str
    service: str
    port: int
    created_at: str
    protocol: str = "tcp"
    host: str = ""
    type: str = ""
    owner: str = ""
    environment: str = ""
    status: str = ""
    url: str = ""
    note: str = ""
    source: str = "manual"
    pid: int | None = None
    pid_start: float | None = None
    command: str = ""
    protected: bool = False
    expires_at: str | None = None
    updated_at: str = ""
    #: The worktree (or project folder) the allocation was made from; ``portctl prune`` releases
    #: allocations whose worktree is gone. "" when not made from a folder.
    path: str = ""
    #: An HTTP service: the proxy gives it a name (``integrations.proxy_names``).
    http: bool = False
    #: Derived, never stored: where the proxy answers for it (the server fills it in).
    proxy_url: str = ""

    @property
    def key(self) -> str:
        return f"{self.app}/{self.instance}/{self.service}"

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Allocation:
        known = cls._fields
        return cls(**{k: v for k, v in data.items() if k in known})


#: Metadata fields that may be set on allocate and changed by update.
METADATA_FIELDS = ("type", "owner", "environment", "status", "url", "note")


class AllocationRequest(Record):
    """What a caller asks for. ``port`` None or 0 means auto-assign from ``type``'s pool."""

    app: str
    instance: str
    service: str
    port: int | None = None
    protocol: str = "tcp"
    force: bool = False
    type: str = ""
    owner: str = ""
    environment: str = ""
    status: str = ""
    url: str = ""
    note: str = ""
    source: str = "manual"
    pid: int | None = None
    pid_start: float | None = None
    command: str = ""
    protected: bool = False
    expires_at: str | None = None
    #: A lease length (seconds, or text like "2h"); the service turns it into ``expires_at``.
    ttl: float | str | None = None
    #: The worktree the request comes from (an absolute path), recorded on the allocation.
    path: str = ""
    #: A proxy name for it; None: decided by the pool (web, api, monitoring by default).
    http: bool | None = None


class AllocationFilter(Record):
    """Selects allocations; every None field matches anything."""

    app: str | None = None
    instance: str | None = None
    service: str | None = None
    port: int | None = None
    id: int | None = None
    host: str | None = None
    type: str | None = None
    owner: str | None = None
    environment: str | None = None
    status: str | None = None
    source: str | None = None
    protocol: str | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, name) is None for name in self._fields)

    def to_query(self) -> dict[str, str]:
        return {name: str(v) for name in self._fields if (v := getattr(self, name)) is not None}


class AllocationResult(Record):
    """The answer to an allocate call: the allocation, and whether this call created it."""

    allocation: Allocation
    created: bool


class ProcessInfo(Record):
    """A process holding a socket, as far as the kernel lets us see it."""

    pid: int | None
    name: str = ""
    user: str = ""
    cmdline: str = ""

    def describe(self) -> str:
        if self.pid is None:
            return "an unknown process (its owner is hidden from this user)"
        return f"pid {self.pid} ({self.name or '?'})"


class PortStatus(Record):
    """What is known about one port: the registry's holder and what the machine shows."""

    port: int
    available: bool
    holder: Allocation | None = None
    holders: tuple[Allocation, ...] = ()
    in_use: bool = False
    processes: tuple[ProcessInfo, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "port": self.port,
            "available": self.available,
            "registered": self.holder is not None,
            "in_use": self.in_use,
            "processes": [to_plain(p) for p in self.processes],
        }
        if self.holder is not None:
            data["holder"] = self.holder.to_dict()
            data["holders"] = [h.to_dict() for h in self.holders]
        return data


class Pool(Record):
    """A named, inclusive port range that auto-assign draws from."""

    name: str
    lo: int
    hi: int

    @property
    def size(self) -> int:
        return self.hi - self.lo + 1

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.lo <= port <= self.hi

    def describe(self) -> str:
        return f"{self.name} ({self.lo}-{self.hi})"


class PoolUsage(Record):
    pool: Pool
    used: int
    free: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.pool.name,
            "lo": self.pool.lo,
            "hi": self.pool.hi,
            "size": self.pool.size,
            "used": self.used,
            "free": self.free,
        }


class PortClaim(Record):
    """A host port that a project file declares (compose, npm script, .env, Makefile, script).

    ``host_port`` is None when the declaration names a variable with no value and no default
    (then ``resolved`` is False). ``kind`` names the file kind (``scanners.KINDS``: compose, npm,
    env, make, script, devcontainer, procfile, vite, spring, just...); the newer scanners put the
    key that sets the port in ``extra["source"]`` and mark a placeholder's default with
    ``extra["default"]``.
    """

    file: str
    line: int
    kind: str
    service: str
    host_port: int | None
    container_port: int | None = None
    protocol: str = "tcp"
    host_ip: str = ""
    resolved: bool = True
    network_mode_host: bool = False
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = to_plain(self)
        if not data["extra"]:
            data.pop("extra")
        return data


#: A live scan row's state: see ``scanners.live.join``.
SCAN_STATES = ("ok", "down", "unregistered", "conflict", "orphan")


class ContainerInfo(Record):
    """The Docker container that publishes a host port (from the engine's API or CLI)."""

    name: str
    compose_project: str = ""
    compose_service: str = ""
    container_port: int | None = None
    image: str = ""


class Listener(Record):
    """One socket listening (TCP) or bound (UDP) on this machine, and who holds it.

    ``pid`` is the outermost process holding the socket (``pids`` lists every process sharing
    it, e.g. a server's forked workers); ``lineage`` is (pid, start time) from ``pid`` up its
    parents, so a recorded pid can be matched against a child that actually listens.
    ``hidden`` names the fields the kernel would not show this user (never an error).
    """

    protocol: str
    address: str
    port: int
    pid: int | None = None
    name: str = ""
    user: str = ""
    cmdline: str = ""
    pids: tuple[int, ...] = ()
    lineage: tuple[tuple[int, float], ...] = ()
    hidden: tuple[str, ...] = ()
    container: ContainerInfo | None = None

    def describe(self) -> str:
        if self.pid is None:
            if self.container is not None:
                return f"docker container {self.container.name}"
            return "a hidden process" if "pid" in self.hidden else "no visible process"
        return f"pid {self.pid} ({self.name or '?'})"

    def to_dict(self, details: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {"protocol": self.protocol, "address": self.address,
                                "port": self.port}
        if details:
            data.update(pid=self.pid, name=self.name, user=self.user, cmdline=self.cmdline,
                        pids=list(self.pids), hidden=list(self.hidden),
                        container=to_plain(self.container) if self.container else None)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Listener:
        container = data.get("container")
        return cls(
            protocol=data["protocol"], address=data["address"], port=data["port"],
            pid=data.get("pid"), name=data.get("name", ""), user=data.get("user", ""),
            cmdline=data.get("cmdline", ""), pids=tuple(data.get("pids", ())),
            hidden=tuple(data.get("hidden", ())),
            container=ContainerInfo(**container) if container else None)


class ScanRow(Record):
    """One port and protocol: the registry's side, the machine's side, and their agreement."""

    port: int
    protocol: str
    state: str
    allocations: tuple[Allocation, ...] = ()
    listeners: tuple[Listener, ...] = ()
    reason: str = ""

    def to_dict(self, details: bool = True) -> dict[str, Any]:
        return {"port": self.port, "protocol": self.protocol, "state": self.state,
                "reason": self.reason,
                "allocations": [a.to_dict() for a in self.allocations],
                "listeners": [lst.to_dict(details) for lst in self.listeners]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScanRow:
        return cls(port=data["port"], protocol=data["protocol"], state=data["state"],
                   reason=data.get("reason", ""),
                   allocations=tuple(Allocation.from_dict(a) for a in data["allocations"]),
                   listeners=tuple(Listener.from_dict(x) for x in data["listeners"]))


class ScanReport(Record):
    """A whole live scan: rows plus what limited it (hidden processes, Docker unreachable)."""

    rows: tuple[ScanRow, ...]
    details: bool = False
    hidden: bool = False
    docker: str = ""
    elapsed_ms: float = 0.0

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(SCAN_STATES, 0)
        for row in self.rows:
            out[row.state] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"rows": [r.to_dict(self.details) for r in self.rows], "counts": self.counts(),
                "details": self.details, "hidden": self.hidden, "docker": self.docker,
                "elapsed_ms": round(self.elapsed_ms, 1)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScanReport:
        return cls(rows=tuple(ScanRow.from_dict(r) for r in data["rows"]),
                   details=bool(data.get("details")), hidden=bool(data.get("hidden")),
                   docker=str(data.get("docker", "")),
                   elapsed_ms=float(data.get("elapsed_ms", 0.0)))


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_duration(text: str | float | int, field: str = "ttl") -> float:
    """'90s', '15m', '2h', '7d', '1w' or a plain number of seconds -> seconds (> 0).

    Raises ValueError with a one-line message naming ``field``; callers turn it into their error.
    """
    if isinstance(text, bool):
        raise ValueError(f"{field}: {text!r} is not a duration; use e.g. 90s, 15m, 2h, 7d")
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        match = _DURATION_RE.match(str(text))
        if not match:
            raise ValueError(f"{field}: {text!r} is not a duration; use e.g. 90s, 15m, 2h, 7d")
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2) or "s"]
    if not 0 < seconds <= 10 * 365 * 86400:
        raise ValueError(f"{field}: {text!r} must be more than 0 and at most 10 years")
    return seconds
