"""Copy a registry from one store to another (``port-server migrate``), keeping ids.

Copies ``allocations`` and, when the source has it, ``audit_log``: every column both sides know,
rows the target does not hold yet (by id), in one target transaction. Re-running is safe: rows
already there are counted, not copied again. Afterwards every source id must be in the target,
or the copy is reported as failed. Knows both SQL dialects; decides nothing about ports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from port_server.errors import Conflict, InvalidInput
from port_server.store.base import Store

#: Tables a registry may hold, in copy order; a missing optional one is skipped.
COPY_TABLES = ("allocations", "audit_log")
REQUIRED_TABLES = frozenset({"allocations"})


@dataclass(frozen=True)
class TableCopy:
    table: str
    source_rows: int
    copied: int
    already_there: int
    target_rows: int
    verified: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _dialect(store: Store) -> str:
    return str(getattr(store, "dialect", "sqlite"))


def _columns(dialect: str, conn: Any, table: str) -> list[str]:
    if dialect == "sqlite":
        return [str(r[1]) for r in conn.execute(f"PRAGMA table_info({table})").fetchall()]
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema ="
        " current_schema() AND table_name = %s ORDER BY ordinal_position", (table,)).fetchall()
    return [str(r[0]) for r in rows]


def _insert_many(dialect: str, conn: Any, table: str, cols: list[str],
                 rows: list[tuple[Any, ...]]) -> None:
    mark = "?" if dialect == "sqlite" else "%s"
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(mark for _ in cols)})"
    if dialect == "sqlite":
        conn.executemany(sql, rows)
        return
    # A write transaction runs in pipeline mode, where an error surfaces at the next sync:
    # leaving this nested pipeline syncs, so a clash is raised here, where it is caught.
    with conn.pipeline(), conn.cursor() as cur:
        cur.executemany(sql, rows)
    # Explicit ids do not move the id sequence: move it past them.
    conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                 f" GREATEST((SELECT MAX(id) FROM {table}), 1))")


def _is_unique_violation(exc: Exception) -> bool:
    name = type(exc).__name__
    return name in ("IntegrityError", "UniqueViolation")


def copy_table(src: Store, stx: Any, dst: Store, dtx: Any, table: str) -> TableCopy | None:
    s_dialect, d_dialect = _dialect(src), _dialect(dst)
    s_cols = _columns(s_dialect, stx.conn, table)
    if not s_cols:
        if table in REQUIRED_TABLES:
            raise InvalidInput(f"--from: the source has no {table} table; is it a registry?",
                               field="from")
        return None
    d_cols = set(_columns(d_dialect, dtx.conn, table))
    if not d_cols:
        raise InvalidInput(f"--to: the target has no {table} table; upgrade port-server there"
                           " first", field="to")
    cols = [c for c in s_cols if c in d_cols]
    rows = [tuple(r) for r in stx.conn.execute(
        f"SELECT {', '.join(cols)} FROM {table} ORDER BY id").fetchall()]
    id_at = cols.index("id")
    present = {int(r[0]) for r in dtx.conn.execute(f"SELECT id FROM {table}").fetchall()}
    new = [r for r in rows if int(r[id_at]) not in present]
    if new:
        try:
            _insert_many(d_dialect, dtx.conn, table, cols, new)
        except Exception as exc:
            if not _is_unique_violation(exc):
                raise
            raise Conflict(
                f"{table}: the target already holds a row that clashes with one being copied"
                f" (same host and port, or same app/instance/service, under another id):"
                f" {' '.join(str(exc).split())}; nothing was copied") from None
    target_ids = {int(r[0]) for r in dtx.conn.execute(f"SELECT id FROM {table}").fetchall()}
    verified = all(int(r[id_at]) in target_ids for r in rows)
    return TableCopy(table, len(rows), len(new), len(rows) - len(new), len(target_ids), verified)


def copy_registry(src: Store, dst: Store) -> list[TableCopy]:
    """Copy every registry table from ``src`` to ``dst`` in one target transaction."""
    results = []
    with src.read() as stx, dst.write() as dtx:
        for table in COPY_TABLES:
            copied = copy_table(src, stx, dst, dtx, table)
            if copied is not None:
                results.append(copied)
    return results
