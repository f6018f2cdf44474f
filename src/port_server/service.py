"""RegistryService: the only code that writes to the registry.

It validates requests, applies the allocation semantics (idempotent re-allocation, explicit ports,
auto-assign from pools), and asks the allocator (pure policy), the probe (the OS) and the store
(records). The HTTP layer and every feature go through it.

Every write transaction is audited (``audit.AuditedStore`` wraps the store), and mutating methods
take an optional ``actor``: who asks (``models.Actor``, or a name for a system job such as
"dokploy-sync"). Without one, the request's caller set by the HTTP layer is used, else "local".
Changing another OS user's allocation needs root or the admin group; protected allocations need
``force``; leases (``ttl``, ``pid``) end and the reaper (``reap``) reclaims them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from port_server import access, allocator, leases
from port_server import probe as os_probe
from port_server.audit import AuditedStore, acting
from port_server.errors import (
    ImportConflict,
    InvalidInput,
    NameTaken,
    NotFound,
    OtherHost,
    PoolExhausted,
    PortAllocated,
    PortInUse,
    ServiceHoldsPort,
)
from port_server.import_plan import ImportReport, plan_import
from port_server.integrations import proxy_names
from port_server.models import (
    METADATA_FIELDS,
    NAME_RE,
    PROTOCOLS,
    Actor,
    Allocation,
    AllocationFilter,
    AllocationRequest,
    AllocationResult,
    AuditEntry,
    AuditFilter,
    Pool,
    PoolUsage,
    PortStatus,
    ProcessInfo,
    ScanReport,
    parse_duration,
)
from port_server.settings import Settings
from port_server.store.base import DuplicateKey, Store, StoreTx
from port_server.type_inference import AUTO, infer_type, rules_from_config

if TYPE_CHECKING:
    from port_server.integrations.sync_plan import PlanItem

# Aliases: the classes below have a method named `list`, which shadows the builtin there.
Allocations = list[Allocation]
Reclaimed = list[tuple[Allocation, str]]
AuditEntries = list[AuditEntry]
Ints = list[int]
PoolUsages = list[PoolUsage]
Requests = list[AllocationRequest]
Plan = list["PlanItem"]

class Probe(Protocol):
    def is_bound(self, port: int) -> bool: ...

    def processes_on_port(self, port: int) -> tuple[ProcessInfo, ...]: ...

    def ephemeral_range(self) -> tuple[int, int] | None: ...


class AllocationNotFound(NotFound):
    code = "allocation_not_found"
    short = "allocation not found"


def utcnow() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_name(field: str, value: str) -> str:
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise InvalidInput(
            f"{field}: {value!r} is not a valid name; use 1-63 letters, digits, '.', '_' or '-',"
            " starting with a letter or digit", field=field)
    return value


def check_port(value: int, field: str = "port") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise InvalidInput(f"{field}: {value!r} is not a port; use a number from 1 to 65535",
                           field=field)
    return value


def check_protocol(value: str) -> str:
    if value not in PROTOCOLS:
        raise InvalidInput(f"protocol: {value!r} is not supported; use tcp or udp",
                           field="protocol")
    return value


def check_text(field: str, value: Any, limit: int = 2048) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: must be a string", field=field)
    if len(value) > limit or any(ord(c) < 32 and c not in "\t" for c in value):
        raise InvalidInput(
            f"{field}: must be at most {limit} characters with no control characters",
            field=field)
    return value


class RegistryService:
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
        #: they run on the caller's thread (the proxy only sets a flag for its pusher).
        self.listeners: list[Callable[[], None]] = []
        self.settings = settings
        self.probe: Probe = probe if probe is not None else os_probe  # type: ignore[assignment]
        self.clock = clock
        self.host = settings.host_id
        self._ephemeral = self.probe.ephemeral_range() if settings.avoid_ephemeral else None
        self.policy = allocator.Policy(skip_ports=settings.skip_ports, ephemeral=self._ephemeral)
        # Per pool: a port below which every port of the pool is registered or excluded by
        # policy. Only ever a lower bound, so it can be stale but never wrong.
        self._hints: dict[str, int] = {}
        self._hint_lock = threading.Lock()
        self.type_rules = rules_from_config(settings.extra)
        # The host's release count when the hints were last trusted. Another server sharing the
        # store may release ports below a hint; a changed count drops the hints (see
        # _allocate_auto), so a freed low port is handed out again, as with a single server.
        self._releases_seen: int | None = None

    def add_listener(self, listener: Callable[[], None]) -> None:
        self.listeners.append(listener)

    def _committed(self) -> None:
        for listener in list(self.listeners):
            try:
                listener()
            except Exception:  # a listener's fault must not fail a committed change
                import logging

                logging.getLogger("port_server").exception("change listener failed")

    # -- reads -----------------------------------------------------------------------------

    def list(self, flt: AllocationFilter = AllocationFilter()) -> Allocations:
        if flt.host is None:
            flt = replace(flt, host=self.host)
        with self.store.read() as tx:
            return tx.select(flt)

    def get(self, alloc_id: int) -> Allocation:
        with self.store.read() as tx:
            alloc = tx.get(alloc_id)
        if alloc is None:
            raise AllocationNotFound(f"allocation {alloc_id} not found; see `portctl list`")
        return alloc

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

    # -- writes ----------------------------------------------------------------------------

    def allocate(self, req: AllocationRequest, actor: Actor | str | None = None
                 ) -> AllocationResult:
        with acting(actor) as who:
            return self._allocate(self._with_lease(self._validate(req), who))

    def _allocate(self, req: AllocationRequest) -> AllocationResult:
        with self.store.write() as tx:
            tx.lock_host(self.host)  # other servers for this host wait here; other hosts do not
            existing = tx.find_key(self.host, req.app, req.instance, req.service)
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
            alloc = self._allocate_explicit(tx, req) if explicit else self._allocate_auto(tx, req)
        return AllocationResult(alloc, created=True)

    def _validate(self, req: AllocationRequest) -> AllocationRequest:
        check_name("app", req.app)
        check_name("instance", req.instance)
        check_name("service", req.service)
        check_protocol(req.protocol)
        if req.port is not None and req.port != 0:
            check_port(req.port)
        for name in METADATA_FIELDS:
            check_text(name, getattr(req, name), limit=2048 if name == "note" else 256)
        if req.type == AUTO:
            req = replace(req, type=infer_type(req.service, self.type_rules))
        if req.type:
            self.settings.pool(req.type)  # unknown pool -> InvalidInput
        if req.http is not None and not isinstance(req.http, bool):
            raise InvalidInput("http: must be true or false", field="http")
        http = proxy_names.is_http(req.type, req.http, self.settings.proxy.http_pools)
        return req if req.http is http else replace(req, http=http)

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

    def _with_lease(self, req: AllocationRequest, who: Actor) -> AllocationRequest:
        """Owner from the kernel-vouched caller, protection by environment, ttl and pid leases."""
        changes: dict[str, Any] = {}
        if not req.owner and who.uid is not None:
            changes["owner"] = who.name
        if req.environment in self.settings.security.protected_environments:
            changes["protected"] = True
        if req.ttl is not None:
            seconds = _duration(req.ttl)
            changes["expires_at"] = leases.iso_after(self.clock(), seconds)
        if req.pid is not None:
            if isinstance(req.pid, bool) or not isinstance(req.pid, int) or req.pid < 1:
                raise InvalidInput("pid: must be a process id (a positive number)", field="pid")
            started = leases.process_start(req.pid)
            if started is None and req.source in leases.PID_LEASE_SOURCES:
                raise InvalidInput(f"pid: no process {req.pid} is running; give the pid of the"
                                   " process that uses the port", field="pid")
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
            procs = self.probe.processes_on_port(req.port)
            who = ", ".join(p.describe() for p in procs) or "another process"
            raise PortInUse(
                f"port {req.port} is in use on this machine by {who}; pass --force to register"
                " it anyway (e.g. for a service that is already running)",
                port=req.port, processes=[p.__dict__ for p in procs])
        return self._insert(tx, req, req.port)

    def _allocate_auto(self, tx: StoreTx, req: AllocationRequest) -> Allocation:
        pool = self.settings.pool(req.type)
        releases = tx.release_count(self.host)
        with self._hint_lock:
            if releases != self._releases_seen:  # someone (maybe us) released: start afresh
                self._hints.clear()
                self._releases_seen = releases
            start = self._hints.get(pool.name, pool.lo)
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
        with self._hint_lock:
            # Ports below the first unregistered, non-skipped one we met are all taken; that
            # port itself stays the hint when the OS had it bound (it may be free next time).
            first = low_water[0] if low_water else port
            self._hints[pool.name] = port + 1 if first == port else first
        return self._insert(tx, req, port)

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

    def _forget_hint(self, ports: Ints) -> None:
        with self._hint_lock:
            for pool in self.settings.pools.values():
                for port in ports:
                    if port in pool and port < self._hints.get(pool.name, pool.lo):
                        self._hints[pool.name] = port

    def _refuse_other_host(self, host: str, what: str, force: bool) -> None:
        """Another host's allocations change only with force: this server cannot probe (or
        see the processes on) another machine's ports."""
        if host != self.host and not force:
            raise OtherHost(
                f"{what} belongs to host {host!r}, and this server manages {self.host!r};"
                " change it from that host's port-server, or pass --force (its port cannot be"
                " checked from here)", host=host)

    def release_id(self, alloc_id: int, force: bool = False,
                   actor: Actor | str | None = None) -> Allocation:
        with acting(actor) as who, self.store.write() as tx:
            alloc = tx.get(alloc_id)
            if alloc is None:
                raise AllocationNotFound(f"allocation {alloc_id} not found; see `portctl list`")
            self._refuse_other_host(alloc.host, f"allocation {alloc_id}", force)
            self.authorize(alloc, who, "release", force)
            tx.delete([alloc_id])
        if alloc.host == self.host:
            self._forget_hint([alloc.port])
        return alloc

    def release(self, flt: AllocationFilter, force: bool = False,
                actor: Actor | str | None = None) -> Allocations:
        if replace(flt, host=None).is_empty():
            raise InvalidInput(
                "filter: give at least one of app, instance, service, port (or release by id);"
                " an empty filter would release everything", field="filter")
        if flt.port is not None:
            check_port(flt.port)
        if flt.host is None:
            flt = replace(flt, host=self.host)
        what = "every host's allocations" if flt.host == "*" else "the allocations"
        self._refuse_other_host(str(flt.host), what, force)
        with acting(actor) as who, self.store.write() as tx:
            victims = tx.select(flt)
            for alloc in victims:  # all or nothing: one refusal releases none
                self.authorize(alloc, who, "release", force)
            tx.delete([a.id for a in victims])
        self._forget_hint([a.port for a in victims if a.host == self.host])
        return victims

    def update(self, alloc_id: int, changes: dict[str, Any], force: bool = False,
               actor: Actor | str | None = None) -> Allocation:
        allowed = set(METADATA_FIELDS) | {"protected", "pid", "command", "http"}
        unknown = set(changes) - allowed
        if unknown:
            name = sorted(unknown)[0]
            raise InvalidInput(
                f"{name}: cannot be updated; updatable: {', '.join(sorted(allowed))}", field=name)
        changes = dict(changes)
        for name, value in changes.items():
            if name in ("protected", "http"):
                if not isinstance(value, bool):
                    raise InvalidInput(f"{name}: must be true or false", field=name)
            elif name == "pid":
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise InvalidInput("pid: must be a process id, or 0 to clear it", field="pid")
            else:
                check_text(name, value, limit=2048 if name in ("note", "command") else 256)
        if changes.get("pid") == 0:  # 0 clears: the process using the port has ended
            changes["pid"] = None
        if changes.get("type") == AUTO:
            changes = {**changes, "type": infer_type(self.get(alloc_id).service, self.type_rules)}
        if "pid" in changes:  # identify the process by its start time too (pid reuse)
            changes["pid_start"] = (leases.process_start(changes["pid"])
                                    if changes["pid"] is not None else None)
        if changes.get("type"):
            self.settings.pool(str(changes["type"]))
        with acting(actor) as who, self.store.write() as tx:
            current = tx.get(alloc_id)
            if current is None:
                raise AllocationNotFound(f"allocation {alloc_id} not found; see `portctl list`")
            self._refuse_other_host(current.host, f"allocation {alloc_id}", force)
            # Recording which process uses the port (portctl run) is not a change of the
            # allocation itself: protection does not stand in its way; ownership does.
            usage_only = set(changes) <= {"pid", "pid_start", "command"}
            self.authorize(current, who, "update", force or usage_only)
            if changes.get("http") and not current.http:
                self._check_name(tx, replace(current, http=True))
            return tx.update(alloc_id, {**changes, "updated_at": self.clock()})

    def pool_for(self, name: str) -> Pool:
        return self.settings.pool(name)

    # -- sync from an outside source (Dokploy) ----------------------------------------------

    def sync(self, source: str, desired: Requests, dry_run: bool = False,
             host: str | None = None) -> Plan:
        """Bring ``source``'s allocations on ``host`` in step with ``desired``, in one transaction.

        Only allocations of ``source`` change; a port or name held by another source is a
        ``conflict`` in the plan and stays as it is. A dry run only reads.
        """
        from port_server.integrations.sync_plan import plan_sync

        host = check_name("host", host) if host else self.host
        for index, req in enumerate(desired):
            where = f"allocations[{index}]"
            if req.source != source:
                raise InvalidInput(f"{where}.source: must be {source!r}", field=f"{where}.source")
            if not req.port:
                raise InvalidInput(f"{where}.port: required; use 1-65535", field=f"{where}.port")
            try:
                self._validate(req)
                check_port(req.port)
            except InvalidInput as exc:
                raise InvalidInput(f"{where}.{exc.message}", field=f"{where}.{exc.field}"
                                   ) from None
        if dry_run:
            with self.store.read() as tx:
                return plan_sync(desired, tx.select(AllocationFilter(host=host)), source)
        with acting(f"{source}-sync", action="sync"), self.store.write() as tx:
            plan = plan_sync(desired, tx.select(AllocationFilter(host=host)), source)
            now = self.clock()
            tx.delete([it.alloc_id for it in plan if it.alloc_id is not None and (
                it.action == "remove" or it.moves)])
            for it in plan:
                if it.action == "update" and not it.moves and it.alloc_id is not None:
                    tx.update(it.alloc_id, {**{k: v[1] for k, v in it.changes.items()},
                                            "updated_at": now})
            for i, it in enumerate(plan):
                if it.request is not None and (it.action == "add" or it.moves):
                    alloc = self._insert(tx, it.request, it.request.port or 0, host=host)
                    plan[i] = replace(it, alloc_id=alloc.id)
        self._forget_hint([it.old_port or it.port for it in plan
                           if it.action == "remove" or it.moves])
        return plan

    # -- live scan -------------------------------------------------------------------------

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

    # -- import (seed 001's registry file and portctl's own export) ------------------------

    def import_allocations(self, entries: Sequence[Allocation], force: bool = False,
                           dry_run: bool = False) -> ImportReport:
        """Register a registry file's entries in one write transaction: all of them or none.

        Entries record services that already exist, so a port bound on this machine is
        registered without asking (``force`` semantics for the OS probe). Registry conflicts
        (see ``import_plan``) change nothing unless ``force``, which lets the file win.
        """
        checked = [self._validate_entry(i, e) for i, e in enumerate(entries)]
        with acting(action="import"), self.store.write() as tx:
            plan = plan_import(
                checked,
                lambda e: tx.find_key(self.host, e.app, e.instance, e.service),
                lambda e: next((h for h in tx.find_port(self.host, e.port)
                                if h.protocol == e.protocol), None))
            if dry_run or (plan.conflicts and not force):
                report = ImportReport(False, dry_run, force, plan.added, plan.matched,
                                      plan.conflicts)
                if dry_run:
                    return report
                raise ImportConflict(
                    f"{len(plan.conflicts)} conflict(s) with the registry; nothing was changed."
                    f" First: {plan.conflicts[0].reason}. Re-run with --force to let the file"
                    " win, or --dry-run to see them all", report=report.to_dict())
            now = self.clock()
            replaced: dict[int, Allocation] = {}
            to_insert = list(plan.added)
            for conflict in plan.conflicts:
                if conflict.changes:
                    tx.update(conflict.holders[0].id, {**conflict.changes, "updated_at": now})
                else:
                    replaced.update((h.id, h) for h in conflict.holders)
                    to_insert.append(conflict.entry)
            tx.delete(sorted(replaced))
            added = [self._insert_entry(tx, entry, now) for entry in to_insert]
        self._forget_hint([a.port for a in replaced.values()])
        return ImportReport(True, False, force, added, plan.matched, plan.conflicts,
                            list(replaced.values()))

    def _validate_entry(self, index: int, entry: Allocation) -> Allocation:
        """The entry checked like an allocate request; errors name ``allocations[i].field``."""
        try:
            req = self._validate(AllocationRequest(
                app=entry.app, instance=entry.instance, service=entry.service, port=entry.port,
                protocol=entry.protocol, type=entry.type, owner=entry.owner,
                environment=entry.environment, status=entry.status, url=entry.url,
                note=entry.note, source=entry.source))
            check_port(entry.port)
            check_text("source", entry.source, limit=32)
            for name in ("created_at", "updated_at"):
                check_text(name, getattr(entry, name), limit=64)
        except InvalidInput as exc:
            where = f"allocations[{index}]"
            raise InvalidInput(f"{where}.{exc.message}",
                               field=f"{where}.{exc.field or 'entry'}") from None
        return replace(entry, type=req.type)

    def _insert_entry(self, tx: StoreTx, entry: Allocation, now: str) -> Allocation:
        req = AllocationRequest(
            app=entry.app, instance=entry.instance, service=entry.service, port=entry.port,
            protocol=entry.protocol, type=entry.type, owner=entry.owner,
            environment=entry.environment, status=entry.status, url=entry.url, note=entry.note,
            source=entry.source or "import", protected=entry.protected,
            http=proxy_names.is_http(entry.type, entry.http or None,
                                     self.settings.proxy.http_pools))
        try:
            alloc = tx.insert(self.host, req, entry.port, entry.created_at or now)
        except DuplicateKey:
            raise PortAllocated(f"port {entry.port} was just allocated by another request;"
                                " nothing was imported, retry") from None
        updated = entry.updated_at or now
        if updated != alloc.updated_at:
            alloc = tx.update(alloc.id, {"updated_at": updated})
        return alloc

    # -- ownership, leases, audit (issue 8) ------------------------------------------------

    def is_admin(self, who: Actor) -> bool:
        return access.is_admin(who, self.settings.security.admin_group)

    def authorize(self, alloc: Allocation, who: Actor, verb: str, force: bool = False) -> None:
        """Raise PermissionDenied or Protected unless ``who`` may ``verb`` ``alloc``."""
        access.authorize(alloc, who, verb, force, self.settings.security.admin_group)

    def renew(self, alloc_id: int, ttl: float | str, actor: Actor | str | None = None
              ) -> Allocation:
        """Set the allocation's expiry to now + ``ttl`` (also turns a lease-less one into one)."""
        seconds = _duration(ttl)
        with acting(actor, action="renew") as who, self.store.write() as tx:
            alloc = tx.get(alloc_id)
            if alloc is None:
                raise AllocationNotFound(f"allocation {alloc_id} not found; see `portctl list`")
            self.authorize(alloc, who, "renew", force=True)
            now = self.clock()
            return tx.update(alloc_id, {"expires_at": leases.iso_after(now, seconds),
                                        "updated_at": now})

    def reap(self, dry_run: bool = False) -> Reclaimed:
        """Release expired and dead-process leases (never protected or lease-less ones).

        Process checks run outside the write lock; each candidate is re-read inside it and
        released only if it is unchanged, so a renewal racing the reaper wins.
        """
        with self.store.read() as tx:
            candidates = tx.leased(self.host)
        now = self.clock()
        ended = [(a, r) for a in candidates if (r := leases.lease_end_reason(a, now))]
        if dry_run or not ended:
            return ended
        reclaimed: Reclaimed = []
        with acting("reaper", action="reclaim"), self.store.write() as wtx:
            for alloc, reason in ended:
                if wtx.get(alloc.id) != alloc:
                    continue
                with acting(reason=reason):
                    wtx.delete([alloc.id])
                reclaimed.append((alloc, reason))
        self._forget_hint([a.port for a, _ in reclaimed])
        return reclaimed

    def prune_audit(self) -> int:
        """Drop audit entries beyond the configured retention (age and count)."""
        sec = self.settings.security
        cutoff = leases.iso_after(self.clock(), -sec.audit_retention_days * 86400)
        with self.raw_store.write() as tx:
            return tx.prune_audit(cutoff, sec.audit_max_entries)

    def log(self, flt: AuditFilter | None = None) -> AuditEntries:
        flt = flt or AuditFilter()
        if not 1 <= flt.limit <= 100_000:
            raise InvalidInput("limit: use a number from 1 to 100000", field="limit")
        with self.store.read() as tx:
            return tx.select_audit(flt)


def _duration(value: float | str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="ttl") from None

