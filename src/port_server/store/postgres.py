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

import functools
import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from port_server.errors import StoreUnavailable
from port_server.models import Allocation
from port_server.store.base import DuplicateKey
from port_server.store.migrations import pending
from port_server.store.sql import SQLTx
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


@functools.lru_cache(maxsize=256)
def to_psycopg(sql: str) -> str:
    """SQLite's SQL in psycopg's parameter style: ``?`` -> ``%s``, ``:name`` -> ``%(name)s``
    (a literal ``%`` doubled). Our SQLite statements hold no ``?`` or ``:`` of any other kind."""
    sql = sql.replace("%", "%%").replace("?", "%s")
    return re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"%(\1)s", sql)


class PostgresTx(SQLTx):
    """The shared queries run on PostgreSQL, plus a real per-host lock and an insert that
    reports a unique-constraint refusal without aborting the transaction."""

    def __init__(self, conn: psycopg.Connection[Any],
                 pipeline: psycopg.Pipeline | None = None) -> None:
        self.conn = conn
        self.pg = conn
        self._locked: set[str] = set()
        #: Write transactions run in pipeline mode: a statement whose result nobody reads
        #: (BEGIN, the host lock, SAVEPOINT, the audit insert, COMMIT) travels with the next
        #: one that is read, instead of costing a round trip of its own.
        self._pipeline = pipeline

    def _run(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        cur = self.pg.execute(to_psycopg(sql), params)
        if self._pipeline is not None and sql.startswith(("DELETE", "UPDATE")):
            self._pipeline.sync()  # their rowcount is read, and it arrives with the result
        return cur

    def lock_host(self, host: str) -> None:
        """Serialize this transaction with every other writer for ``host`` (any server)."""
        if host in self._locked:
            return
        self.pg.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                        (f"port-server:host:{host}",))
        self._locked.add(host)

    def _insert_row(self, values: dict[str, Any]) -> int:
        cols = ", ".join(values)
        marks = ", ".join("%s" for _ in values)
        # ON CONFLICT DO NOTHING rather than catching the violation: a refused insert then
        # leaves the transaction usable for the caller's follow-up lookups (an error would abort
        # it), at no extra round trip.
        row = self.pg.execute(
            f"INSERT INTO allocations ({cols}) VALUES ({marks}) ON CONFLICT DO NOTHING"
            " RETURNING id", list(values.values())).fetchone()
        if row is None:
            raise DuplicateKey(f"a unique constraint refused port {values['port']} for"
                               f" {values['app']}/{values['instance']}/{values['service']}")
        return int(row[0])

    def insert_allocation(self, alloc: Allocation) -> Allocation:
        super().insert_allocation(alloc)
        # An explicit id does not move the id sequence: move it past the ids we inserted.
        self.pg.execute("SELECT setval(pg_get_serial_sequence('allocations', 'id'),"
                        " GREATEST((SELECT MAX(id) FROM allocations), 1))")
        return alloc


class PostgresStore:
    dialect = "postgres"
    #: What a failing statement raises here; the writer turns these into ``fault(exc)``.
    store_errors: tuple[type[BaseException], ...] = (psycopg.Error,)

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
            " not applied, retry shortly", cause="unreachable")

    def fault(self, exc: BaseException) -> StoreUnavailable:
        """``exc`` as a 503 naming its cause in one line (the password never shows)."""
        if isinstance(exc, StoreUnavailable):
            return exc
        if isinstance(exc, _UNAVAILABLE):
            return self._unavailable(exc)
        detail = self._redact(" ".join(str(exc).split())) or type(exc).__name__
        return StoreUnavailable(f"database error ({self.safe_url}: {detail}); the request was"
                                " not applied", cause="error")

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
    def _transaction(self, pipelined: bool = False
                     ) -> Iterator[tuple[psycopg.Connection[Any], psycopg.Pipeline | None]]:
        try:
            conn = self._pool.getconn(DEGRADED_TIMEOUT if self._degraded else ACQUIRE_TIMEOUT)
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from None
        try:
            with ExitStack() as stack:
                pipeline = stack.enter_context(conn.pipeline()) if pipelined else None
                stack.enter_context(conn.transaction())
                yield conn, pipeline
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
            with self._transaction() as (conn, _):
                # Servers starting together: the first migrates, the others wait and see it done.
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                for migration in pending(conn.execute):
                    conn.execute(migration.postgres)
                    conn.execute("INSERT INTO schema_migrations VALUES (%s, now()::text)",
                                 (migration.name,))
            self._migrated = True

    @contextmanager
    def write(self) -> Iterator[PostgresTx]:
        self._ensure_schema()
        with self._transaction(pipelined=True) as (conn, pipeline):
            yield PostgresTx(conn, pipeline)

    @contextmanager
    def read(self) -> Iterator[PostgresTx]:
        self._ensure_schema()
        with self._transaction() as (conn, _):
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
