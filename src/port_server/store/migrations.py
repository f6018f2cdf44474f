"""Named schema migrations, applied in order and recorded in ``schema_migrations``.

Each migration has SQL per dialect. Never edit a released migration: add a new one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Migration:
    name: str
    sqlite: str
    postgres: str


_ALLOCATIONS_COLUMNS = """
    app         TEXT NOT NULL,
    instance    TEXT NOT NULL,
    service     TEXT NOT NULL,
    port        INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    created_at  TEXT NOT NULL,
    protocol    TEXT NOT NULL DEFAULT 'tcp',
    host        TEXT NOT NULL DEFAULT '',
    type        TEXT NOT NULL DEFAULT '',
    owner       TEXT NOT NULL DEFAULT '',
    environment TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL DEFAULT '',
    url         TEXT NOT NULL DEFAULT '',
    note        TEXT NOT NULL DEFAULT '',
    source      TEXT NOT NULL DEFAULT 'manual',
    pid         INTEGER,
    pid_start   DOUBLE PRECISION,
    command     TEXT NOT NULL DEFAULT '',
    protected   INTEGER NOT NULL DEFAULT 0,
    expires_at  TEXT,
    updated_at  TEXT NOT NULL DEFAULT '',
    UNIQUE (host, port, protocol),
    UNIQUE (host, app, instance, service)
"""

MIGRATIONS: list[Migration] = [
    Migration(
        name="0001_allocations",
        sqlite=f"""
CREATE TABLE allocations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,{_ALLOCATIONS_COLUMNS});
CREATE INDEX allocations_app ON allocations (app, instance, service);
""",
        postgres=f"""
CREATE TABLE allocations (
    id BIGSERIAL PRIMARY KEY,{_ALLOCATIONS_COLUMNS});
CREATE INDEX allocations_app ON allocations (app, instance, service);
""",
    ),
]

#: Releases per host, counted by the store on every delete: a server compares it with what it saw
#: last to learn that another server sharing the database released ports (service.py's hints).
_HOST_RELEASES = """
CREATE TABLE host_releases (
    host     TEXT PRIMARY KEY,
    releases BIGINT NOT NULL DEFAULT 0
);
"""

MIGRATIONS.append(Migration(name="0003_host_releases", sqlite=_HOST_RELEASES,
                            postgres=_HOST_RELEASES))

_AUDIT_COLUMNS = """
    time        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    actor_uid   INTEGER,
    action      TEXT NOT NULL,
    alloc_id    BIGINT,
    app         TEXT NOT NULL DEFAULT '',
    instance    TEXT NOT NULL DEFAULT '',
    service     TEXT NOT NULL DEFAULT '',
    port        INTEGER,
    host        TEXT NOT NULL DEFAULT '',
    before      TEXT,
    after       TEXT,
    reason      TEXT NOT NULL DEFAULT ''
"""

_AUDIT_INDEXES = """
CREATE INDEX audit_log_time ON audit_log (time);
CREATE INDEX audit_log_app ON audit_log (app, time);
CREATE INDEX audit_log_port ON audit_log (port, time);
CREATE INDEX allocations_lease ON allocations (host, expires_at, pid);
"""

MIGRATIONS.append(Migration(
    name="0004_audit_log",
    sqlite=f"""
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,{_AUDIT_COLUMNS});
{_AUDIT_INDEXES}""",
    postgres=f"""
CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,{_AUDIT_COLUMNS});
{_AUDIT_INDEXES}""",
))

#: The worktree an allocation was made from (``portctl up``/``prune``); "" for older rows.
_ALLOCATION_PATH = "ALTER TABLE allocations ADD COLUMN path TEXT NOT NULL DEFAULT ''"

MIGRATIONS.append(Migration(name="allocation_path", sqlite=_ALLOCATION_PATH,
                            postgres=_ALLOCATION_PATH))

#: Which allocations are HTTP services with a proxy name; the pools that hold HTTP services by
#: default (web, api, monitoring) start out marked.
_ALLOCATION_HTTP = """
ALTER TABLE allocations ADD COLUMN http INTEGER NOT NULL DEFAULT 0;
UPDATE allocations SET http = 1 WHERE type IN ('web', 'api', 'monitoring');
"""

MIGRATIONS.append(Migration(name="allocation_http", sqlite=_ALLOCATION_HTTP,
                            postgres=_ALLOCATION_HTTP))


def pending(execute: Callable[[str], Iterable[Sequence[Any]]]) -> list[Migration]:
    """The migrations not yet applied, creating the record table first (either dialect):
    ``execute`` runs one statement on the migrating transaction and returns its rows."""
    execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
            "name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    done = {row[0] for row in execute("SELECT name FROM schema_migrations")}
    return [m for m in MIGRATIONS if m.name not in done]
