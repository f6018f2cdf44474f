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
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from port_server.errors import StoreUnavailable
from port_server.store.base import DuplicateKey
from port_server.store.migrations import pending
from port_server.store.sql import SQLTx
from port_server.store.sqlite_files import DbFile

BUSY_TIMEOUT_MS = 10_000
#: Seconds between two full structure checks (PRAGMA quick_check) of the readiness check.
QUICK_CHECK_EVERY = 30.0


def _connect(path: str, uri: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30,
                           uri=uri)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


class SQLiteTx(SQLTx):
    """The shared queries on one SQLite connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def _run(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        return self.conn.execute(sql, params)

    def lock_host(self, host: str) -> None:
        """BEGIN IMMEDIATE already serializes every write transaction on the file."""

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
        self._quick_checked = float("-inf")
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
            tx.conn.execute("SELECT 1").fetchone()
            # quick_check reads every page: on a big registry that is tens of ms, so it runs
            # at most every QUICK_CHECK_EVERY seconds (and again right after it failed).
            now = time.monotonic()
            if self.file is not None and now - self._quick_checked >= QUICK_CHECK_EVERY:
                self.file.quick_check(tx.conn)
                self._quick_checked = now

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
