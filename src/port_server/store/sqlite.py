"""The embedded default: one SQLite file in WAL mode.

Durability: ``synchronous=FULL`` makes every commit fsync the WAL, so an acknowledged allocation
survives a crash or power loss. Serialization: one write connection, used by the service's one
writer thread (``service.writer``: group commit, one savepoint per request), and ``BEGIN
IMMEDIATE`` (with a busy timeout) against other processes on the same file. Reads use one
connection per thread, which WAL lets run beside the writer. Faults (disk full, read-only,
corrupt, removed) become ``StoreUnavailable`` naming the cause (``sqlite_files``).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from port_server.errors import StoreUnavailable
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
    DuplicateKey,
    audit_values,
    row_to_allocation,
    row_to_audit,
)
from port_server.store.migrations import pending
from port_server.store.sqlite_files import DbFile

BUSY_TIMEOUT_MS = 10_000
_SELECT = f"SELECT {', '.join(ALLOCATION_COLUMNS)} FROM allocations"

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


def _connect(path: str, uri: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30,
                           uri=uri)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


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


class SQLiteTx:
    """The queries, in SQLite's SQL. PostgresTx inherits them: it only overrides ``_run`` (which
    translates the parameter marks), the host lock and the insert."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def _run(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        """Execute one statement (``?`` or ``:name`` marks); returns a cursor."""
        return self.conn.execute(sql, params)

    def lock_host(self, host: str) -> None:
        """BEGIN IMMEDIATE already serializes every write transaction on the file."""

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """One request of a group commit: its changes stay or go together, and a failure rolls
        back only them (the same SQL on PostgreSQL)."""
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
        return self._one(f"{_SELECT} WHERE id = ?", (alloc_id,))

    def find_key(self, host: str, app: str, instance: str, service: str) -> Allocation | None:
        return self._one(
            f"{_SELECT} WHERE host = ? AND app = ? AND instance = ? AND service = ?",
            (host, app, instance, service))

    def find_port(self, host: str, port: int) -> list[Allocation]:
        rows = self._run(f"{_SELECT} WHERE host = ? AND port = ? ORDER BY id",
                                 (host, port)).fetchall()
        return [row_to_allocation(r) for r in rows]

    def next_unregistered(self, host: str, start: int, stop: int) -> int | None:
        if start > stop:
            return None
        row = self._run(_NEXT_UNREGISTERED, {"h": host, "s": start, "e": stop}).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def count_in_range(self, host: str, lo: int, hi: int) -> int:
        row = self._run(
            "SELECT COUNT(DISTINCT port) FROM allocations WHERE host = ? AND port BETWEEN ? AND ?",
            (host, lo, hi)).fetchone()
        return int(row[0])

    def ports_in_range(self, host: str, lo: int, hi: int) -> list[int]:
        rows = self._run(
            "SELECT DISTINCT port FROM allocations WHERE host = ? AND port BETWEEN ? AND ? "
            "ORDER BY port", (host, lo, hi)).fetchall()
        return [int(r[0]) for r in rows]

    def select(self, flt: AllocationFilter, limit: int | None = None) -> list[Allocation]:
        where, params = where_clause(flt)
        sql = f"{_SELECT}{where} ORDER BY id"
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
        }
        alloc_id = self._insert_row(values)
        return Allocation(id=alloc_id, **{**values, "protected": req.protected})

    def _insert_row(self, values: dict[str, Any]) -> int:
        """Insert one allocations row; its id. A unique constraint's refusal is DuplicateKey."""
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        try:
            cur = self._run(f"INSERT INTO allocations ({cols}) VALUES ({marks})",
                            list(values.values()))
        except sqlite3.IntegrityError as exc:
            raise DuplicateKey(str(exc)) from None
        alloc_id = cur.lastrowid
        assert alloc_id is not None
        return int(alloc_id)

    def insert_allocation(self, alloc: Allocation) -> Allocation:
        """Insert a full row, id included (import and migration keep ids)."""
        data = alloc.to_dict()
        data["protected"] = int(alloc.protected)
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
        row = self._run("SELECT releases FROM host_releases WHERE host = ?",
                                (host,)).fetchone()
        return int(row[0]) if row else 0

    def leased(self, host: str) -> list[Allocation]:
        rows = self._run(
            f"{_SELECT} WHERE host = ? AND protected = 0"
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


class SQLiteStore:
    dialect = "sqlite"
    #: What a failing statement raises here; the writer turns these into ``fault(exc)``.
    store_errors: tuple[type[BaseException], ...] = (sqlite3.Error, OSError)

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.file = DbFile(self.path) if self.path != ":memory:" else None
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._writer: sqlite3.Connection | None = None
        try:
            if self.file is not None:
                self.file.preflight()
            self._writer = _connect(self.path)
            self._migrate()
        except (sqlite3.Error, OSError, StoreUnavailable) as exc:
            cause = self.fault(exc)
            raise StoreUnavailable(f"cannot open the registry database: {cause.message}",
                                   **cause.extra) from None
        if self.file is not None:
            self.file.remember()

    def fault(self, exc: BaseException) -> StoreUnavailable:
        """``exc`` (from SQLite or the OS) as a 503 that names its cause in one line."""
        if isinstance(exc, StoreUnavailable):
            return exc
        if self.file is None:
            return StoreUnavailable(f"database error: {exc}", cause="error")
        return self.file.fault(exc)

    def _migrate(self) -> None:
        with self.write() as tx:
            conn = tx.conn
            for migration in pending(conn.execute):
                for statement in migration.sqlite.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations VALUES (?, datetime('now'))",
                             (migration.name,))

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self._reopen_path(), uri=self.file is not None)
            self._local.conn = conn
        return conn

    def _reopen_path(self) -> str:
        """Connections after the first never create the file: a removed one stays an error."""
        if self.file is None:
            return self.path
        return f"file:{quote(os.path.abspath(self.path))}?mode=rw"

    @contextmanager
    def write(self) -> Iterator[SQLiteTx]:
        """One write transaction (BEGIN IMMEDIATE, so other processes on the file wait). The
        service's writer thread is its only caller while serving; the lock guards tools that
        use a store directly (migrate, tests)."""
        with self._write_lock:
            try:
                if self.file is not None:
                    self.file.guard()  # never acknowledge a write into a deleted file
                if self._writer is None:
                    self._writer = _connect(self._reopen_path(), uri=self.file is not None)
                conn = self._writer
                conn.execute("BEGIN IMMEDIATE")
            except (sqlite3.Error, OSError) as exc:
                raise self._lost(exc) from None
            try:
                yield SQLiteTx(conn)
                conn.execute("COMMIT")
            except (sqlite3.Error, OSError) as exc:
                raise self._lost(exc) from None
            except BaseException:
                _rollback(conn)
                raise

    def _lost(self, exc: BaseException) -> StoreUnavailable:
        """A failed write: roll back what is left, drop the connection (after an I/O error its
        state is unknown; the next write opens a fresh one), and say why."""
        fault = self.fault(exc)
        if self._writer is not None:
            _rollback(self._writer)
            self._writer.close()
            self._writer = None
        return fault

    @contextmanager
    def read(self) -> Iterator[SQLiteTx]:
        try:
            conn = self._reader()
            conn.execute("BEGIN")
        except (sqlite3.Error, OSError) as exc:
            raise self.fault(exc) from None
        try:
            yield SQLiteTx(conn)
        except sqlite3.Error as exc:
            raise self.fault(exc) from None
        finally:
            _rollback(conn)

    def applied_migrations(self) -> list[str]:
        with self.read() as tx:
            return [r[0] for r in tx.conn.execute(
                "SELECT name FROM schema_migrations ORDER BY name")]

    def check(self) -> None:
        """Readiness: the file is the one we opened, writable, with room, and intact."""
        if self.file is not None:
            self.file.guard()
            self.file.check_space()
        with self.read() as tx:
            if self.file is not None:
                self.file.quick_check(tx.conn)
            else:
                tx.conn.execute("SELECT 1").fetchone()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()


def _rollback(conn: sqlite3.Connection) -> None:
    """End whatever transaction is open; SQLite may have rolled it back itself after an error."""
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass
