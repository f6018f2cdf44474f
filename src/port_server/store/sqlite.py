"""The embedded default: one SQLite file in WAL mode.

Durability: ``synchronous=FULL`` makes every commit fsync the WAL, so an acknowledged allocation
survives a crash or power loss. Serialization: one write connection behind a lock inside this
process, and ``BEGIN IMMEDIATE`` (with a busy timeout) against other processes on the same file.
Reads use one connection per thread, which WAL lets run beside a writer.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from port_server.errors import StoreUnavailable
from port_server.store.base import DuplicateKey
from port_server.store.migrations import MIGRATIONS
from port_server.store.sql import SQLTx

BUSY_TIMEOUT_MS = 10_000


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
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

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.Lock()
        self._local = threading.local()
        try:
            self._writer = _connect(self.path)
            self._migrate()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open SQLite database {self.path}: {exc}") from None

    def _migrate(self) -> None:
        conn = self._writer
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                             "name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
                done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
                for migration in MIGRATIONS:
                    if migration.name in done:
                        continue
                    for statement in migration.sqlite.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute("INSERT INTO schema_migrations VALUES (?, datetime('now'))",
                                 (migration.name,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path)
            self._local.conn = conn
        return conn

    @contextmanager
    def write(self) -> Iterator[SQLiteTx]:
        with self._write_lock:
            conn = self._writer
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(f"database is busy: {exc}") from None
            try:
                yield SQLiteTx(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[SQLiteTx]:
        conn = self._reader()
        conn.execute("BEGIN")
        try:
            yield SQLiteTx(conn)
        finally:
            conn.execute("COMMIT")

    def applied_migrations(self) -> list[str]:
        with self.read() as tx:
            return [r[0] for r in tx.conn.execute(
                "SELECT name FROM schema_migrations ORDER BY name")]

    def check(self) -> None:
        try:
            with self.read() as tx:
                tx.conn.execute("SELECT 1").fetchone()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"database error: {exc}") from None

    def close(self) -> None:
        self._writer.close()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
