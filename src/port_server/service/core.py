"""The state every part of the service shares, and the small helpers they all use.

``ServiceCore`` holds the store (audited), the settings, the OS probe, the clock, the allocation
policy and the hint cache. The jobs (``reads``, ``allocation``, ``changes``, ``batch``,
``ownership``) are mixins over it; ``RegistryService`` in ``__init__`` puts them together.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from port_server import allocator
from port_server.audit import AuditedStore
from port_server.errors import AllocationNotFound, NameTaken, OtherHost, PortAllocated
from port_server.integrations import proxy_names
from port_server.models import (
    Actor,
    Allocation,
    AllocationFilter,
    AllocationRequest,
    AuditEntry,
    PoolUsage,
    ProcessInfo,
)
from port_server.service.authorization import Authorization
from port_server.service.hints import HintCache
from port_server.service.validation import validate_request
from port_server.service.writer import MAX_BATCH, Writer
from port_server.settings import Settings
from port_server.store.base import DuplicateKey, Store, StoreTx
from port_server.system import probe as os_probe
from port_server.type_inference import rules_from_config

T = TypeVar("T")

# Aliases: the service has a method named `list`, which shadows the builtin in its classes.
Allocations = list[Allocation]
Reclaimed = list[tuple[Allocation, str]]
AuditEntries = list[AuditEntry]
Ints = list[int]
PoolUsages = list[PoolUsage]
Requests = list[AllocationRequest]


class Probe(Protocol):
    def is_bound(self, port: int) -> bool: ...

    def processes_on_port(self, port: int) -> tuple[ProcessInfo, ...]: ...

    def ephemeral_range(self) -> tuple[int, int] | None: ...


def utcnow() -> str:
    # isoformat is several times cheaper than strftime; the same text ("...T12:00:00.000000Z").
    return datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


class ServiceCore:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        probe: Probe | None = None,
        clock: Callable[[], str] = utcnow,
    ) -> None:
        #: Writes through ``self.store`` are audited; ``raw_store`` is the backend itself.
        self.raw_store = store
        self.store = AuditedStore(store, lambda: self.clock(), on_commit=self._committed)
        #: Called (no arguments) after each committed change of allocations: keep them quick,
        #: they run on the writer's thread (the proxy only sets a flag for its pusher).
        self.listeners: list[Callable[[], None]] = []
        self.settings = settings
        self.probe: Probe = probe if probe is not None else os_probe  # type: ignore[assignment]
        self.clock = clock
        self.host = settings.host_id
        self._ephemeral = self.probe.ephemeral_range() if settings.avoid_ephemeral else None
        self.policy = allocator.Policy(skip_ports=settings.skip_ports, ephemeral=self._ephemeral)
        self.hints = HintCache()
        self.type_rules = rules_from_config(settings.extra)
        #: The one authorization point: every mutation asks it before writing.
        self.authz = Authorization(settings.security)
        #: Every change goes through it: one thread, group commits. A batch that fails to
        #: commit may have moved hints past ports it did not take: start them afresh.
        batch = int(os.environ.get("PORT_SERVER_WRITE_BATCH") or MAX_BATCH)
        self.writer = Writer(self.store, max_batch=max(1, batch), on_abort=self.hints.reset)

    def _write(self, fn: Callable[[StoreTx], T]) -> T:
        """Run ``fn`` in the writer's next group commit and wait until it is durable (from a
        worker thread; the event loop awaits ``writer.submit`` instead). The caller's context
        (actor, audit action) goes with it."""
        return self.writer.call(fn)

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after each commit that changed allocations: once per group
        commit, on the writer thread, before its requests are answered (keep it quick)."""
        self.listeners.append(listener)

    def _committed(self) -> None:
        for listener in list(self.listeners):
            try:
                listener()
            except Exception:  # a listener's fault must not fail a committed change
                import logging

                logging.getLogger("port_server").exception("change listener failed")

    def _check_name(self, tx: StoreTx, alloc: Allocation) -> None:
        """``alloc``'s proxy name must be DNS-safe and its own (InvalidInput, NameTaken)."""
        if alloc.protocol != "tcp":
            return
        hit = proxy_names.find_collision(alloc, tx.select(AllocationFilter(host=alloc.host)),
                                         self.host)
        if hit is not None:
            name, other = hit
            raise NameTaken(
                f"{alloc.key} would answer at {name}, which {other.key} (id={other.id})"
                " already has; rename one of them, or pass --no-http", name=name,
                holder=other.to_dict())

    def _validate(self, req: AllocationRequest) -> AllocationRequest:
        return validate_request(req, self.settings, self.type_rules)

    def _require(self, tx: StoreTx, alloc_id: int) -> Allocation:
        """The allocation ``alloc_id`` as ``tx`` sees it; AllocationNotFound if there is none."""
        alloc = tx.get(alloc_id)
        if alloc is None:
            raise AllocationNotFound(f"allocation {alloc_id} not found; see `portctl list`")
        return alloc

    def _insert(self, tx: StoreTx, req: AllocationRequest, port: int,
                host: str | None = None) -> Allocation:
        if req.http is None:  # sync's requests: the pool decides
            req = replace(req, http=proxy_names.is_http(req.type, None,
                                                        self.settings.proxy.http_pools))
        try:
            return tx.insert(host or self.host, req, port, self.clock())
        except DuplicateKey:  # another process won a race on the same file: report it plainly
            holders = tx.find_port(host or self.host, port)
            holder = holders[0].to_dict() if holders else None
            raise PortAllocated(f"port {port} was just allocated by another request; retry",
                                holder=holder) from None

    def _is_bound(self, port: int) -> bool:
        return self.settings.probe_os and self.probe.is_bound(port)

    def _forget_hint(self, ports: Iterable[int]) -> None:
        self.hints.forget(self.settings.pools.values(), ports)

    def _refuse_other_host(self, host: str, what: str, force: bool) -> None:
        """Another host's allocations change only with force: this server cannot probe (or
        see the processes on) another machine's ports."""
        if host != self.host and not force:
            raise OtherHost(
                f"{what} belongs to host {host!r}, and this server manages {self.host!r};"
                " change it from that host's port-server, or pass --force (its port cannot be"
                " checked from here)", host=host)

    def is_admin(self, who: Actor) -> bool:
        return self.authz.is_admin(who)

    def authorize(self, alloc: Allocation, who: Actor, verb: str, force: bool = False) -> None:
        """Raise PermissionDenied or Protected unless ``who`` may ``verb`` ``alloc``."""
        self.authz.change(alloc, who, verb, force)
