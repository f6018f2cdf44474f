"""The storage interface: records and finds allocations, decides nothing.

Policy (which port, who may) lives in ``service`` and ``allocator``. A backend only has to give
serialized write transactions and indexed lookups; the same contract tests run against each.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from port_server import fields
from port_server.errors import StoreUnavailable
from port_server.models import (
    Allocation,
    AllocationFilter,
    AllocationRequest,
    AuditEntry,
    AuditFilter,
)

#: Columns in the order of ``Allocation``'s fields (the table in ``fields``).
ALLOCATION_COLUMNS = fields.STORED

#: Columns ``update`` may change: what PATCH may, and what the service itself maintains.
UPDATABLE_COLUMNS = frozenset({*fields.UPDATABLE, "source", "pid_start", "expires_at",
                               "updated_at"})

#: Adds the deleted rows to their hosts' release counts (run before the DELETE; ``{ids}`` is the
#: dialect's list of id marks). The same SQL in SQLite (3.24+) and PostgreSQL.
COUNT_RELEASES = """
INSERT INTO host_releases (host, releases)
SELECT host, COUNT(*) FROM allocations WHERE id IN ({ids}) GROUP BY host
ON CONFLICT (host) DO UPDATE SET releases = host_releases.releases + excluded.releases
"""


def row_to_allocation(row: Sequence[Any]) -> Allocation:
    values = dict(zip(ALLOCATION_COLUMNS, row, strict=True))
    values["protected"] = bool(values["protected"])
    values["http"] = bool(values["http"])
    return Allocation(**values)


#: Columns of ``audit_log`` in the order of ``AuditEntry``'s fields; before/after are JSON text.
AUDIT_COLUMNS = (
    "id", "time", "actor", "action", "actor_uid", "alloc_id", "app", "instance", "service", "port",
    "host", "before", "after", "reason",
)


_AUDIT_JSON = json.JSONEncoder(sort_keys=True)


def audit_values(entry: AuditEntry) -> dict[str, Any]:
    """An entry as column values (no ``id``): before/after serialised to JSON text."""
    # Shallow: before/after are already plain dicts, encoded straight to text (one encoder
    # made once; json.dumps with options builds a new one per call). Runs on every mutation.
    data = {n: entry.__dict__[n] for n in entry._fields if n != "id"}
    for name in ("before", "after"):
        value = data[name]
        data[name] = None if value is None else _AUDIT_JSON.encode(value)
    return data


def row_to_audit(row: Sequence[Any]) -> AuditEntry:
    import json

    values = dict(zip(AUDIT_COLUMNS, row, strict=True))
    for name in ("before", "after"):
        values[name] = json.loads(values[name]) if values[name] else None
    return AuditEntry(**values)


class StoreTx(Protocol):
    """Operations inside one transaction. Writes are only valid inside ``Store.write()``."""

    def lock_host(self, host: str) -> None:
        """Serialize the rest of this write transaction with every other writer for ``host``,
        in any process or server sharing the database (a no-op where writes are already
        serialized whole)."""
        ...

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested unit inside the write transaction: an exception rolls back its changes
        only (group commit puts each request in one)."""
        ...

    def get(self, alloc_id: int) -> Allocation | None: ...

    def find_key(self, host: str, app: str, instance: str, service: str) -> Allocation | None: ...

    def find_port(self, host: str, port: int) -> list[Allocation]: ...

    def next_unregistered(self, host: str, start: int, stop: int) -> int | None:
        """The lowest port in [start, stop] that no allocation on ``host`` holds, or None."""
        ...

    def ports_in_range(self, host: str, lo: int, hi: int) -> list[int]: ...

    def select(self, flt: AllocationFilter, limit: int | None = None) -> list[Allocation]: ...

    def insert(self, host: str, req: AllocationRequest, port: int, now: str) -> Allocation: ...

    def update(self, alloc_id: int, changes: dict[str, Any]) -> Allocation: ...

    def delete(self, ids: Sequence[int]) -> int:
        """Delete allocations by id, counting them in their hosts' release counts."""
        ...

    def release_count(self, host: str) -> int:
        """How many allocations of ``host`` have ever been released, by any writer."""
        ...

    def find_key_and_releases(self, host: str, app: str, instance: str, service: str
                              ) -> tuple[Allocation | None, int]:
        """``find_key`` and ``release_count`` together (one round trip on PostgreSQL)."""
        ...

    def leased(self, host: str) -> list[Allocation]:
        """Allocations on ``host`` with a lease (``expires_at`` or ``pid`` set) that are not
        ``protected``, ordered by id: the reaper's candidates."""
        ...

    def add_audit(self, entry: AuditEntry) -> None:
        """Append ``entry`` to ``audit_log`` (its ``id`` is ignored; the table assigns one).
        Use ``audit_values(entry)`` for the column values."""
        ...

    def select_audit(self, flt: AuditFilter) -> list[AuditEntry]:
        """Entries matching ``flt`` (app, port, action, actor equal; time >= since), the newest
        ``flt.limit`` of them, returned oldest first. Build with ``row_to_audit``."""
        ...

    def prune_audit(self, before: str, keep: int) -> int:
        """Delete entries older than ``before`` (ISO time) and all but the newest ``keep``;
        return how many were deleted."""
        ...


class Store(Protocol):
    """A registry database. ``write()`` transactions are serialized across threads and processes."""

    #: Exceptions the backend's driver raises; the writer turns them into ``fault(exc)``.
    store_errors: tuple[type[BaseException], ...]

    def write(self) -> AbstractContextManager[StoreTx]: ...

    def read(self) -> AbstractContextManager[StoreTx]: ...

    def applied_migrations(self) -> list[str]: ...

    def check(self) -> None:
        """Raise StoreUnavailable (naming the cause) unless the database is writable and intact."""
        ...

    def fault(self, exc: BaseException) -> StoreUnavailable:
        """A driver or OS error as a 503 that names its cause in one line."""
        ...

    def close(self) -> None: ...


class DuplicateKey(Exception):
    """A unique constraint refused an insert: the store's last word against a race."""
