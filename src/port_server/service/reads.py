"""Reads: list, get, check a port, pool usage, suggestions, the live scan. No writes here."""

from __future__ import annotations

from dataclasses import replace

from port_server import allocator
from port_server.errors import InvalidInput, PoolExhausted
from port_server.models import (
    Allocation,
    AllocationFilter,
    Pool,
    PoolUsage,
    PortStatus,
    ScanReport,
)
from port_server.service.core import Allocations, Ints, PoolUsages, ServiceCore
from port_server.service.validation import check_name, check_port


class Reads(ServiceCore):
    def list(self, flt: AllocationFilter = AllocationFilter()) -> Allocations:
        if flt.host is None:
            flt = replace(flt, host=self.host)
        with self.store.read() as tx:
            return tx.select(flt)

    def get(self, alloc_id: int) -> Allocation:
        with self.store.read() as tx:
            return self._require(tx, alloc_id)

    def check_port(self, port: int) -> PortStatus:
        check_port(port)
        with self.store.read() as tx:
            holders = tx.find_port(self.host, port)
        in_use = self.settings.probe_os and self.probe.is_bound(port)
        processes = self.probe.processes_on_port(port) if in_use else ()
        return PortStatus(
            port=port,
            available=not holders and not in_use,
            holder=holders[0] if holders else None,
            holders=tuple(holders),
            in_use=in_use,
            processes=processes,
        )

    def pools(self) -> PoolUsages:
        out: PoolUsages = []
        with self.store.read() as tx:
            for pool in self.settings.pools.values():
                taken = tx.ports_in_range(self.host, pool.lo, pool.hi)
                used = len(taken)
                out.append(PoolUsage(pool, used, allocator.free_count(pool, self.policy, taken)))
        return out

    def pool_for(self, name: str) -> Pool:
        return self.settings.pool(name)

    def suggest(self, pool_name: str = "", count: int = 1) -> Ints:
        """The next ``count`` ports auto-assign would hand out, without allocating."""
        if not 1 <= count <= 1000:
            raise InvalidInput("count: use a number from 1 to 1000", field="count")
        pool = self.settings.pool(pool_name)
        found: Ints = []
        start: int | None = None
        with self.store.read() as tx:
            while len(found) < count:
                port = allocator.choose_port(
                    pool, self.policy, lambda s, e: tx.next_unregistered(self.host, s, e),
                    self._is_bound, start=start)
                if port is None:
                    break
                found.append(port)
                start = port + 1
        if not found:
            raise PoolExhausted(f"no ports available in pool {pool.describe()}",
                                pool=pool.name)
        return found

    def scan(self, state: str | None = None, app: str | None = None,
             port_range: str | None = None, details: bool = False) -> ScanReport:
        """This host's allocations joined with what listens on it (read-only).

        ``state`` is comma-separated scan states, ``port_range`` is "LO-HI"; both may be None.
        """
        from port_server.scanners import live

        states = live.parse_states(state)
        span = live.parse_port_range(port_range)
        if app is not None:
            check_name("app", app)
        return live.scan(self.list(), states=states, app=app, port_range=span, details=details)
