"""The shared store: PostgreSQL through psycopg 3 and a psycopg_pool connection pool.

Many port-servers (one per host, sometimes two for the same host) share one database.
Serialization: ``lock_host`` takes a transaction-scoped advisory lock keyed by the host, so
allocations for one host run one at a time across every server while other hosts go on in
parallel; the unique constraints on (host, port, protocol) and (host, app, instance, service) stay
the last word. Faults: a lost or refused connection becomes ``StoreUnavailable`` (503 with
Retry-After); the pool drops dead connections (each is checked before use) and reconnects on its
own, so the server recovers when the database is back. Each request is one transaction, so a
failure leaves nothing half applied. The password in the URL never reaches a log or a message.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from port_server.errors import StoreUnavailable
from port_server.models import Allocation, AllocationFilter, AllocationRequest
from port_server.store.base import (
    ALLOCATION_COLUMNS,
    COUNT_RELEASES,
    UPDATABLE_COLUMNS,
    DuplicateKey,
    row_to_allocation,
)
from port_server.store.migrations import MIGRATIONS
from port_server.store.sqlite import where_clause
from port_server.store.urls import redact_url, secrets_of

log = logging.getLogger("port_server.store")

#: How long a request waits for a connection before answering 503; once the database has been
#: found down, requests fail fast (DEGRADED_TIMEOUT) until one succeeds again.
ACQUIRE_TIMEOUT = 3.0
DEGRADED_TIMEOUT = 0.3
#: How long the pool retries one failed connection before starting afresh (its back-off doubles
#: up to this, so it also bounds how long recovery takes once the database is back).
RECONNECT_TIMEOUT = 4.0
CONNECT_TIMEOUT = 5
#: A connection used successfully this recently skips the pool's liveness check (a round trip);
#: one that died sooner fails its request with 503, and that failure checks the whole pool.
RECENTLY_USED = 2.0
#: Advisory lock keys: one for migrations, one per host (hashed) for allocations.
MIGRATION_LOCK = 0x706F72747376  # "portsv"
_SELECT = f"SELECT {', '.join(ALLOCATION_COLUMNS)} FROM allocations"

#: Lowest unregistered port in [s, e]; the same walk of the (host, port) index as SQLite's.
_NEXT_UNREGISTERED = """
SELECT CASE
  WHEN NOT EXISTS (SELECT 1 FROM allocations WHERE host = %(h)s AND port = %(s)s) THEN %(s)s
  ELSE (SELECT a.port + 1 FROM allocations a
        WHERE a.host = %(h)s AND a.port >= %(s)s AND a.port < %(e)s
          AND NOT EXISTS (SELECT 1 FROM allocations b WHERE b.host = %(h)s AND b.port = a.port + 1)
        ORDER BY a.port LIMIT 1)
END
"""

_UNAVAILABLE = (psycopg.OperationalError, psycopg.InterfaceError)


class _RedactFilter(logging.Filter):
    """Masks the password in anything psycopg or its pool logs."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(s in message for s in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, None
        return True


class PostgresTx:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self._locked: set[str] = set()

    def lock_host(self, host: str) -> None:
        """Serialize this transaction with every other writer for ``host`` (any server)."""
        if host in self._locked:
            return
        self.conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                          (f"port-server:host:{host}",))
        self._locked.add(host)

    def _one(self, sql: str, params: Sequence[Any]) -> Allocation | None:
        row = self.conn.execute(sql, params).fetchone()
        return row_to_allocation(row) if row else None

    def get(self, alloc_id: int) -> Allocation | None:
        return self._one(f"{_SELECT} WHERE id = %s", (alloc_id,))

    def find_key(self, host: str, app: str, instance: str, service: str) -> Allocation | None:
        return self._one(
            f"{_SELECT} WHERE host = %s AND app = %s AND instance = %s AND service = %s",
            (host, app, instance, service))

    def find_port(self, host: str, port: int) -> list[Allocation]:
        rows = self.conn.execute(f"{_SELECT} WHERE host = %s AND port = %s ORDER BY id",
                                 (host, port)).fetchall()
        return [row_to_allocation(r) for r in rows]

    def next_unregistered(self, host: str, start: int, stop: int) -> int | None:
        if start > stop:
            return None
        row = self.conn.execute(_NEXT_UNREGISTERED, {"h": host, "s": start, "e": stop}).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def count_in_range(self, host: str, lo: int, hi: int) -> int:
        row = self.conn.execute(
            "SELECT COUNT(DISTINCT port) FROM allocations WHERE host = %s AND port BETWEEN %s"
            " AND %s", (host, lo, hi)).fetchone()
        return int(row[0]) if row else 0

    def ports_in_range(self, host: str, lo: int, hi: int) -> list[int]:
        rows = self.conn.execute(
            "SELECT DISTINCT port FROM allocations WHERE host = %s AND port BETWEEN %s AND %s"
            " ORDER BY port", (host, lo, hi)).fetchall()
        return [int(r[0]) for r in rows]

    def select(self, flt: AllocationFilter, limit: int | None = None) -> list[Allocation]:
        where, params = where_clause(flt)
        # where_clause writes sqlite's "?" marks; its conditions hold no other "?".
        sql = f"{_SELECT}{where.replace('?', '%s')} ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [row_to_allocation(r) for r in self.conn.execute(sql, params).fetchall()]

    def _insert_row(self, values: dict[str, Any]) -> int:
        cols = ", ".join(values)
        marks = ", ".join("%s" for _ in values)
        # ON CONFLICT DO NOTHING rather than catching the violation: a refused insert then
        # leaves the transaction usable for the caller's follow-up lookups (an error would abort
        # it), at no extra round trip.
        row = self.conn.execute(
            f"INSERT INTO allocations ({cols}) VALUES ({marks}) ON CONFLICT DO NOTHING"
            " RETURNING id", list(values.values())).fetchone()
        if row is None:
            raise DuplicateKey(f"a unique constraint refused port {values['port']} for"
                               f" {values['app']}/{values['instance']}/{values['service']}")
        return int(row[0])

    def insert(self, host: str, req: AllocationRequest, port: int, now: str) -> Allocation:
        values: dict[str, Any] = {
            "app": req.app, "instance": req.instance, "service": req.service, "port": port,
            "created_at": now, "protocol": req.protocol, "host": host, "type": req.type,
            "owner": req.owner, "environment": req.environment, "status": req.status,
            "url": req.url, "note": req.note, "source": req.source, "pid": req.pid,
            "pid_start": req.pid_start, "command": req.command,
            "protected": int(req.protected), "expires_at": req.expires_at, "updated_at": now,
        }
        alloc_id = self._insert_row(values)
        return Allocation(id=alloc_id, **{**values, "protected": req.protected})

    def insert_allocation(self, alloc: Allocation) -> Allocation:
        """Insert a full row, id included (import and migration keep ids)."""
        data = alloc.to_dict()
        data["protected"] = int(alloc.protected)
        self._insert_row({c: data[c] for c in ALLOCATION_COLUMNS})
        self.conn.execute("SELECT setval(pg_get_serial_sequence('allocations', 'id'),"
                          " GREATEST((SELECT MAX(id) FROM allocations), 1))")
        return alloc

    def update(self, alloc_id: int, changes: dict[str, Any]) -> Allocation:
        bad = set(changes) - UPDATABLE_COLUMNS
        if bad:
            raise ValueError(f"columns not updatable: {sorted(bad)}")
        if changes:
            sets = ", ".join(f"{c} = %s" for c in changes)
            params = [int(v) if isinstance(v, bool) else v for v in changes.values()]
            self.conn.execute(f"UPDATE allocations SET {sets} WHERE id = %s", [*params, alloc_id])
        alloc = self.get(alloc_id)
        assert alloc is not None
        return alloc

    def delete(self, ids: Sequence[int]) -> int:
        if not ids:
            return 0
        marks = ", ".join("%s" for _ in ids)
        self.conn.execute(COUNT_RELEASES.format(ids=marks), list(ids))
        cur = self.conn.execute("DELETE FROM allocations WHERE id = ANY(%s)", (list(ids),))
        return cur.rowcount

    def release_count(self, host: str) -> int:
        row = self.conn.execute("SELECT releases FROM host_releases WHERE host = %s",
                                (host,)).fetchone()
        return int(row[0]) if row else 0


class PostgresStore:
    dialect = "postgres"

    def __init__(self, url: str, min_size: int = 1, max_size: int = 8) -> None:
        self.url = url
        self.safe_url = redact_url(url)
        self._secrets = secrets_of(url)
        redactor = _RedactFilter(self._secrets)
        for name in ("psycopg", "psycopg.pool"):
            logging.getLogger(name).addFilter(redactor)
        self._schema_lock = threading.Lock()
        self._migrated = False
        self._degraded = False
        #: id(connection) -> when it last completed a transaction.
        self._last_ok: dict[int, float] = {}
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            url, min_size=min_size, max_size=max_size, open=False, name="port-server",
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT,
                    "application_name": "port-server"},
            check=self._check_connection, timeout=ACQUIRE_TIMEOUT,
            reconnect_timeout=RECONNECT_TIMEOUT)
        self._pool.open(wait=False)
        try:
            self._ensure_schema()
        except StoreUnavailable as exc:
            # Start anyway: requests answer 503 until the database is reachable.
            log.warning("%s; will retry on each request", exc.message)

    # -- errors ----------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        if not self._degraded:
            self._degraded = True
            # The idle connections are likely dead too (a restart kills them all): test and
            # replace them in the background rather than one per request.
            threading.Thread(target=self._check_pool, daemon=True).start()
        detail = self._redact(" ".join(str(exc).split())) or type(exc).__name__
        return StoreUnavailable(
            f"the registry database is unavailable ({self.safe_url}: {detail}); the request was"
            " not applied, retry shortly")

    # -- transactions ----------------------------------------------------------------------

    def _check_connection(self, conn: psycopg.Connection[Any]) -> None:
        """The pool's check before handing out a connection: a round trip unless it was
        used successfully just now (and the database has not been found down since)."""
        last = self._last_ok.get(id(conn))
        if last is not None and not self._degraded and time.monotonic() - last < RECENTLY_USED:
            return
        ConnectionPool.check_connection(conn)

    def _check_pool(self) -> None:
        try:
            self._pool.check()
        except Exception as exc:  # a closed pool at shutdown, or the database still down
            log.debug("pool check: %s", self._redact(str(exc)))

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            conn = self._pool.getconn(DEGRADED_TIMEOUT if self._degraded else ACQUIRE_TIMEOUT)
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from None
        try:
            with conn.transaction():
                yield conn
        except _UNAVAILABLE as exc:
            self._last_ok.pop(id(conn), None)
            raise self._unavailable(exc) from None
        else:
            self._last_ok[id(conn)] = time.monotonic()
        finally:
            self._pool.putconn(conn)
        self._degraded = False

    def _ensure_schema(self) -> None:
        if self._migrated:
            return
        with self._schema_lock:
            if self._migrated:
                return
            with self._transaction() as conn:
                # Servers starting together: the first migrates, the others wait and see it done.
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                             "name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
                done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
                for migration in MIGRATIONS:
                    if migration.name in done:
                        continue
                    conn.execute(migration.postgres)
                    conn.execute("INSERT INTO schema_migrations VALUES (%s, now()::text)",
                                 (migration.name,))
            self._migrated = True

    @contextmanager
    def write(self) -> Iterator[PostgresTx]:
        self._ensure_schema()
        with self._transaction() as conn:
            yield PostgresTx(conn)

    @contextmanager
    def read(self) -> Iterator[PostgresTx]:
        self._ensure_schema()
        with self._transaction() as conn:
            yield PostgresTx(conn)

    def applied_migrations(self) -> list[str]:
        with self.read() as tx:
            return [r[0] for r in tx.conn.execute(
                "SELECT name FROM schema_migrations ORDER BY name")]

    def check(self) -> None:
        with self.read() as tx:
            tx.conn.execute("SELECT 1").fetchone()

    def close(self) -> None:
        self._pool.close()
