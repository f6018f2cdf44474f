"""Allocation: idempotent re-allocation, explicit ports, auto-assign from pools, leases on create.

The allocator (pure policy) chooses; the probe says what the OS has bound; the store records.
Auto-assign starts each pool's search at the ``HintCache`` hint and falls back to the bottom of
the pool when the hint was stale.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from port_server import allocator, leases
from port_server.audit import acting
from port_server.errors import (
    PoolExhausted,
    PortAllocated,
    PortInUse,
    ProcessNotFound,
    ServiceHoldsPort,
)
from port_server.models import Actor, Allocation, AllocationRequest, AllocationResult
from port_server.service.core import ServiceCore
from port_server.service.validation import check_pid, duration
from port_server.store.base import StoreTx


class _Bound(PortInUse):
    """Raised on the writer thread when the OS has the port bound; the caller names the
    processes (a psutil scan, too slow for the writer) and raises the real PortInUse."""

    def __init__(self, port: int) -> None:
        super().__init__(f"port {port} is in use on this machine", port=port)
        self.port = port


class Allocating(ServiceCore):
    def allocate(self, req: AllocationRequest, actor: Actor | str | None = None
                 ) -> AllocationResult:
        try:
            return self._write(self._allocation(req, actor))
        except _Bound as exc:
            raise self._port_in_use(exc.port) from None

    async def allocate_async(self, req: AllocationRequest, actor: Actor | str | None = None
                             ) -> AllocationResult:
        """``allocate`` for the event loop: it only awaits the writer's future."""
        try:
            return await asyncio.wrap_future(self.writer.submit(self._allocation(req, actor)))
        except _Bound as exc:
            raise await asyncio.to_thread(self._port_in_use, exc.port) from None

    def _allocation(self, req: AllocationRequest, actor: Actor | str | None
                    ) -> Callable[[StoreTx], AllocationResult]:
        """The whole request as a writer job: checks, lease, then the allocation itself."""
        def job(tx: StoreTx) -> AllocationResult:
            with acting(actor) as who:
                checked = self._validate(req)
                if checked.owner:
                    self.authz.name_owner(checked.owner, who)
                if checked.pid is not None:
                    check_pid(checked.pid)
                    self.authz.use_process(checked.pid, who)
                return self._allocate(tx, self._with_lease(checked, who))
        return job

    def _allocate(self, tx: StoreTx, req: AllocationRequest) -> AllocationResult:
        tx.lock_host(self.host)  # other servers for this host wait here; other hosts do not
        existing, releases = tx.find_key_and_releases(self.host, req.app, req.instance,
                                                      req.service)
        if existing is not None:
            if req.port and req.port != existing.port:
                raise ServiceHoldsPort(
                    f"{existing.key} already holds port {existing.port} (id={existing.id});"
                    f" release it first (portctl release --id {existing.id}) or omit --port",
                    holder=existing.to_dict())
            return AllocationResult(existing, created=False)
        if req.http:
            self._check_name(tx, Allocation(
                id=0, app=req.app, instance=req.instance, service=req.service, port=0,
                created_at="", protocol=req.protocol, host=self.host, http=True))
        explicit = bool(req.port)
        alloc = (self._allocate_explicit(tx, req) if explicit
                 else self._allocate_auto(tx, req, releases))
        return AllocationResult(alloc, created=True)

    def _port_in_use(self, port: int) -> PortInUse:
        procs = self.probe.processes_on_port(port)
        who = ", ".join(p.describe() for p in procs) or "another process"
        return PortInUse(
            f"port {port} is in use on this machine by {who}; pass --force to register"
            " it anyway (e.g. for a service that is already running)",
            port=port, processes=[p.__dict__ for p in procs])

    def _with_lease(self, req: AllocationRequest, who: Actor) -> AllocationRequest:
        """Owner from the kernel-vouched caller, protection by environment, ttl and pid leases."""
        changes: dict[str, Any] = {}
        if not req.owner and who.uid is not None:
            changes["owner"] = who.name
        if req.environment in self.settings.security.protected_environments:
            changes["protected"] = True
        if req.ttl is not None:
            changes["expires_at"] = leases.iso_after(self.clock(), duration(req.ttl))
        if req.pid is not None:
            check_pid(req.pid)
            started = leases.process_start(req.pid)
            if started is None and req.source in leases.PID_LEASE_SOURCES:
                raise ProcessNotFound(f"pid: no process {req.pid} is running; give the pid of"
                                      " the process that uses the port", field="pid")
            changes["pid_start"] = started
        return replace(req, **changes) if changes else req

    def _allocate_explicit(self, tx: StoreTx, req: AllocationRequest) -> Allocation:
        assert req.port
        for holder in tx.find_port(self.host, req.port):
            if holder.protocol == req.protocol:
                raise PortAllocated(
                    f"port {req.port} is already allocated to {holder.key} (id={holder.id});"
                    " omit --port to auto-assign, or see `portctl check --port"
                    f" {req.port}`", holder=holder.to_dict())
        if not req.force and self.settings.probe_os and self.probe.is_bound(req.port):
            raise _Bound(req.port)
        return self._insert(tx, req, req.port)

    def _allocate_auto(self, tx: StoreTx, req: AllocationRequest, releases: int) -> Allocation:
        """``releases``: the host's release count, read with the key lookup (one round trip)."""
        pool = self.settings.pool(req.type)
        start = self.hints.start(pool, releases)
        low_water: list[int] = []

        def next_unregistered(s: int, e: int) -> int | None:
            port = tx.next_unregistered(self.host, s, e)
            if port is not None and not low_water and port not in self.policy.skip_ports:
                low_water.append(port)
            return port

        port = allocator.choose_port(pool, self.policy, next_unregistered, self._is_bound,
                                     start=start)
        if port is None and start != pool.lo:  # the hint may be stale (another server released)
            low_water.clear()
            port = allocator.choose_port(pool, self.policy, next_unregistered, self._is_bound)
        if port is None:
            raise PoolExhausted(f"no ports available in pool {pool.describe()}; release unused"
                                " allocations (portctl list, portctl release)", pool=pool.name)
        self.hints.record(pool, port, low_water[0] if low_water else port)
        return self._insert(tx, req, port)
