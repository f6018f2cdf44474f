"""The SQL both backends share: every ``StoreTx`` query, in one base class.

``SQLTx`` holds the queries; ``sqlite.SQLiteTx`` and ``postgres.PostgresTx`` each add how a
statement runs, how a row is inserted and how a host is locked. Neither backend inherits the other.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from port_server.models import (
    Allocation,
    AllocationFilter,
    AllocationRequest,
    AuditEntry,
    AuditFilter,
)
from port_server.store.base import (
    ALLOCATION_COLUMNS,
    AUDIT_COLUMNS,
    COUNT_RELEASES,
    UPDATABLE_COLUMNS,
    audit_values,
    row_to_allocation,
    row_to_audit,
)

SELECT_ALLOCATIONS = f"SELECT {', '.join(ALLOCATION_COLUMNS)} FROM allocations"

#: Lowest unregistered port in [start, stop]: start itself, or the first registered port at or
#: above start whose successor is free. Walks the (host, port) index, never the whole table.
_NEXT_UNREGISTERED = """
SELECT CASE
  WHEN NOT EXISTS (SELECT 1 FROM allocations WHERE host = :h AND port = :s) THEN :s
  ELSE (SELECT a.port + 1 FROM allocations a
        WHERE a.host = :h AND a.port >= :s AND a.port < :e
          AND NOT EXISTS (SELECT 1 FROM allocations b WHERE b.host = :h AND b.port = a.port + 1)
        ORDER BY a.port LIMIT 1)
END
"""

_FIND_KEY = f"{SELECT_ALLOCATIONS} WHERE host = ? AND app = ? AND instance = ? AND service = ?"
_RELEASES = "SELECT releases FROM host_releases WHERE host = ?"


def where_clause(flt: AllocationFilter) -> tuple[str, list[Any]]:
    """SQL conditions for a filter; ``host='*'`` means every host."""
    conds: list[str] = []
    params: list[Any] = []
    for name, value in (
        ("app", flt.app), ("instance", flt.instance), ("service", flt.service),
        ("port", flt.port), ("id", flt.id), ("type", flt.type), ("owner", flt.owner),
        ("environment", flt.environment), ("status", flt.status), ("source", flt.source),
        ("protocol", flt.protocol), ("host", None if flt.host == "*" else flt.host),
    ):
        if value is not None:
            conds.append(f"{name} = ?")
            params.append(value)
    return (" WHERE " + " AND ".join(conds)) if conds else "", params


class SQLTx(ABC):
    """Every ``StoreTx`` query, written once in SQL both SQLite and PostgreSQL run (``?`` and
    ``:name`` marks; the PostgreSQL backend translates them). A backend subclasses it with how to
    run a statement, how to insert a row (a unique-constraint refusal is ``DuplicateKey``) and
    how to lock a host."""

    @abstractmethod
    def _run(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        """Execute one statement; returns a cursor."""

    @abstractmethod
    def _insert_row(self, values: dict[str, Any]) -> int:
        """Insert one allocations row; its id."""

    @abstractmethod
    def lock_host(self, host: str) -> None:
        """Serialise allocation on one host until the transaction ends."""

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """One request of a group commit: its changes stay or go together, and a failure rolls
        back only them (the same SQL in both dialects)."""
        self._run("SAVEPOINT request")
        try:
            yield
        except BaseException:
            self._run("ROLLBACK TO SAVEPOINT request")
            self._run("RELEASE SAVEPOINT request")
            raise
        self._run("RELEASE SAVEPOINT request")

    def _one(self, sql: str, params: Sequence[Any]) -> Allocation | None:
        row = self._run(sql, params).fetchone()
        return row_to_allocation(row) if row else None

    def get(self, alloc_id: int) -> Allocation | None:
        return self._one(f"{SELECT_ALLOCATIONS} WHERE id = ?", (alloc_id,))

    def find_key(self, host: str, app: str, instance: str, service: str) -> Allocation | None:
        return self._one(_FIND_KEY, (host, app, instance, service))

    def find_key_and_releases(self, host: str, app: str, instance: str, service: str
                              ) -> tuple[Allocation | None, int]:
        """Both statements are sent before either result is read: in PostgreSQL's pipeline
        mode (write transactions) they share one round trip."""
        key = self._run(_FIND_KEY, (host, app, instance, service))
        releases = self._run(_RELEASES, (host,))
        row, count = key.fetchone(), releases.fetchone()
        return (row_to_allocation(row) if row else None), (int(count[0]) if count else 0)

    def find_port(self, host: str, port: int) -> list[Allocation]:
        rows = self._run(f"{SELECT_ALLOCATIONS} WHERE host = ? AND port = ? ORDER BY id",
                                 (host, port)).fetchall()
        return [row_to_allocation(r) for r in rows]

    def next_unregistered(self, host: str, start: int, stop: int) -> int | None:
        if start > stop:
            return None
        row = self._run(_NEXT_UNREGISTERED, {"h": host, "s": start, "e": stop}).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def ports_in_range(self, host: str, lo: int, hi: int) -> list[int]:
        rows = self._run(
            "SELECT DISTINCT port FROM allocations WHERE host = ? AND port BETWEEN ? AND ? "
            "ORDER BY port", (host, lo, hi)).fetchall()
        return [int(r[0]) for r in rows]

    def select(self, flt: AllocationFilter, limit: int | None = None) -> list[Allocation]:
        where, params = where_clause(flt)
        sql = f"{SELECT_ALLOCATIONS}{where} ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [row_to_allocation(r) for r in self._run(sql, params).fetchall()]

    def insert(self, host: str, req: AllocationRequest, port: int, now: str) -> Allocation:
        values: dict[str, Any] = {
            "app": req.app, "instance": req.instance, "service": req.service, "port": port,
            "created_at": now, "protocol": req.protocol, "host": host, "type": req.type,
            "owner": req.owner, "environment": req.environment, "status": req.status,
            "url": req.url, "note": req.note, "source": req.source, "pid": req.pid,
            "pid_start": req.pid_start, "command": req.command,
            "protected": int(req.protected), "expires_at": req.expires_at, "updated_at": now,
            "path": req.path,
            "http": int(bool(req.http)),
        }
        alloc_id = self._insert_row(values)
        return Allocation(id=alloc_id, **{**values, "protected": req.protected,
                                          "http": bool(req.http)})

    def insert_allocation(self, alloc: Allocation) -> Allocation:
        """Insert a full row, id included (import and migration keep ids)."""
        data = alloc.to_dict()
        data["protected"] = int(alloc.protected)
        data["http"] = int(alloc.http)
        self._insert_row({c: data[c] for c in ALLOCATION_COLUMNS})
        return alloc

    def update(self, alloc_id: int, changes: dict[str, Any]) -> Allocation:
        bad = set(changes) - UPDATABLE_COLUMNS
        if bad:
            raise ValueError(f"columns not updatable: {sorted(bad)}")
        if changes:
            sets = ", ".join(f"{c} = ?" for c in changes)
            params = [int(v) if isinstance(v, bool) else v for v in changes.values()]
            self._run(f"UPDATE allocations SET {sets} WHERE id = ?", [*params, alloc_id])
        alloc = self.get(alloc_id)
        assert alloc is not None
        return alloc

    def delete(self, ids: Sequence[int]) -> int:
        total = 0
        for start in range(0, len(ids), 500):
            chunk = list(ids[start:start + 500])
            marks = ", ".join("?" for _ in chunk)
            self._run(COUNT_RELEASES.format(ids=marks), chunk)
            total += self._run(f"DELETE FROM allocations WHERE id IN ({marks})",
                                       chunk).rowcount
        return total

    def release_count(self, host: str) -> int:
        row = self._run(_RELEASES, (host,)).fetchone()
        return int(row[0]) if row else 0

    def leased(self, host: str) -> list[Allocation]:
        rows = self._run(
            f"{SELECT_ALLOCATIONS} WHERE host = ? AND protected = 0"
            " AND (expires_at IS NOT NULL OR pid IS NOT NULL) ORDER BY id", (host,)).fetchall()
        return [row_to_allocation(r) for r in rows]

    def add_audit(self, entry: AuditEntry) -> None:
        values = audit_values(entry)
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        self._run(f"INSERT INTO audit_log ({cols}) VALUES ({marks})", list(values.values()))

    def select_audit(self, flt: AuditFilter) -> list[AuditEntry]:
        conds: list[str] = []
        params: list[Any] = []
        for name, value in (("app", flt.app), ("port", flt.port), ("action", flt.action),
                            ("actor", flt.actor)):
            if value is not None:
                conds.append(f"{name} = ?")
                params.append(value)
        if flt.since is not None:
            conds.append("time >= ?")
            params.append(flt.since)
        where = (" WHERE " + " AND ".join(conds)) if conds else ""
        rows = self._run(
            f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit_log{where} ORDER BY id DESC"
            f" LIMIT {int(flt.limit)}", params).fetchall()
        return [row_to_audit(r) for r in reversed(rows)]

    def prune_audit(self, before: str, keep: int) -> int:
        total: int = self._run("DELETE FROM audit_log WHERE time < ?", (before,)).rowcount
        total += self._run(
            "DELETE FROM audit_log WHERE id <= (SELECT MAX(id) FROM audit_log) - ?",
            (int(keep),)).rowcount
        return total
