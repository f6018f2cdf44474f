"""`port-server migrate --from sqlite:///... --to postgresql://...`: ids and metadata kept, counts
verified, safe to re-run, clashes refused with nothing copied, passwords not printed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import BIN, isolated_env, make_server
from pg_cluster import PASSWORD
from port_server.models import AllocationFilter, AllocationRequest
from port_server.store import transfer
from port_server.store.postgres import PostgresStore
from port_server.store.sqlite import SQLiteStore

NOW = "2026-01-01T00:00:00.000000Z"


def migrate(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "port-server"), "migrate", *args], env=isolated_env(tmp),
                          capture_output=True, text=True, timeout=120)


def sqlite_registry(path: Path) -> list[Any]:
    """A registry with id gaps, metadata, both protocols and two hosts."""
    store = SQLiteStore(path)
    try:
        with store.write() as tx:
            for i in range(12):
                tx.insert("laptop", AllocationRequest(
                    app="shop", instance="main", service=f"s{i}", type="web", owner="ann",
                    note=f"note {i}", protected=i % 3 == 0, pid=100 + i, pid_start=1.5,
                    protocol="udp" if i % 4 == 0 else "tcp"), 4000 + i, NOW)
            tx.insert("ci-1", AllocationRequest(app="shop", instance="main", service="s0"),
                      4000, NOW)
            doomed = tx.select(AllocationFilter(host="laptop", service="s5"))
            tx.delete([a.id for a in doomed])
        with store.read() as tx:
            return tx.select(AllocationFilter(host="*"))
    finally:
        store.close()


def test_migrate_sqlite_to_postgres(tmp_path: Path, pg_cluster: Any) -> None:
    db = tmp_path / "registry.db"
    before = sqlite_registry(db)
    url = pg_cluster.new_database()
    r = migrate(tmp_path, "--from", f"sqlite:///{db}", "--to", url, "--json")
    assert r.returncode == 0, r.stderr
    assert PASSWORD not in r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert report["ok"] is True
    allocs = report["tables"][0]
    assert allocs == {"table": "allocations", "source_rows": 12, "copied": 12,
                      "already_there": 0, "target_rows": 12, "verified": True}
    target = PostgresStore(url)
    try:
        with target.read() as tx:
            assert tx.select(AllocationFilter(host="*")) == before  # ids and every field
    finally:
        target.close()

    again = migrate(tmp_path, "--from", f"sqlite:///{db}", "--to", url)
    assert again.returncode == 0, again.stderr
    line = next(x for x in again.stdout.splitlines() if x.startswith("allocations"))
    assert line.split()[1:5] == ["12", "0", "12", "12"]
    assert "ids kept" in again.stdout and PASSWORD not in again.stdout

    # A server on the new store carries on: same ids, new ones after the copied ones.
    srv = make_server(tmp_path / "srv", ["--store", url, "--host-id", "laptop"]).start()
    try:
        with srv.client() as client:
            listed = client.list()
            assert [a.id for a in listed] == [a.id for a in before if a.host == "laptop"]
            fresh = client.allocate(AllocationRequest(app="shop", instance="main",
                                                      service="new"))
        assert fresh.allocation.id > max(a.id for a in before)
    finally:
        srv.stop()


def test_migrate_refuses_a_clash_and_copies_nothing(tmp_path: Path, pg_cluster: Any) -> None:
    db = tmp_path / "registry.db"
    sqlite_registry(db)
    url = pg_cluster.new_database()
    target = PostgresStore(url)
    try:
        with target.write() as tx:  # same host and port as a source row, another id
            tx.insert("laptop", AllocationRequest(app="other", instance="x", service="y"),
                      4003, NOW)
        r = migrate(tmp_path, "--from", f"sqlite:///{db}", "--to", url)
        assert r.returncode == 1
        assert "clashes" in r.stderr and "nothing was copied" in r.stderr
        with target.read() as tx:
            assert len(tx.select(AllocationFilter(host="*"))) == 1
    finally:
        target.close()


def test_migrate_usage_errors(tmp_path: Path) -> None:
    r = migrate(tmp_path, "--from", f"sqlite:///{tmp_path / 'missing.db'}", "--to",
                f"sqlite:///{tmp_path / 'b.db'}")
    assert r.returncode == 2 and "no such file" in r.stderr
    r = migrate(tmp_path, "--to", "mysql://x")  # --from defaults to this machine's registry
    assert r.returncode == 2 and "data/registry.db" in r.stderr
    db = tmp_path / "a.db"
    sqlite_registry(db)
    r = migrate(tmp_path, "--from", f"sqlite:///{db}", "--to", "mysql://x")
    assert r.returncode == 2 and "unsupported URL" in r.stderr
    r = migrate(tmp_path)
    assert r.returncode == 2 and "--to" in r.stderr
    help_text = subprocess.run([str(BIN / "port-server"), "--help"], capture_output=True,
                               text=True).stdout
    assert "port-server migrate" in help_text


def test_optional_tables_are_copied_when_present(
        tmp_path: Path, pg_cluster: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """An optional table (like issue 8's audit_log) is copied when the source has it."""
    monkeypatch.setattr(transfer, "COPY_TABLES", ("allocations", "extra_log"))
    src = SQLiteStore(tmp_path / "a.db")
    dst = PostgresStore(pg_cluster.new_database())
    try:
        results = transfer.copy_registry(src, dst)
        assert [r.table for r in results] == ["allocations"]  # absent in the source: skipped
        with src.write() as tx:
            tx.conn.execute("CREATE TABLE extra_log (id INTEGER PRIMARY KEY, what TEXT)")
            tx.conn.executemany("INSERT INTO extra_log VALUES (?, ?)",
                                [(3, "a"), (7, "b")])
        with dst.write() as tx:
            tx.conn.execute("CREATE TABLE extra_log (id BIGSERIAL PRIMARY KEY, what TEXT)")
        results = transfer.copy_registry(src, dst)
        assert results[1] == transfer.TableCopy("extra_log", 2, 2, 0, 2, True)
        with dst.write() as tx:
            row = tx.conn.execute("INSERT INTO extra_log (what) VALUES ('c') RETURNING id"
                                  ).fetchone()
            assert row[0] == 8  # the sequence moved past the copied ids
    finally:
        src.close()
        dst.close()


def test_audit_log_is_copied_with_the_allocations(tmp_path: Path, pg_cluster: Any) -> None:
    """The audit log (issue 8's table; made here with its required columns when this build has
    no audit migration) travels with the registry, ids kept, and is not copied twice."""
    db = tmp_path / "registry.db"
    sqlite_registry(db)
    url = pg_cluster.new_database()
    src, dst = SQLiteStore(db), PostgresStore(url)
    try:
        with src.write() as tx:
            tx.conn.execute("CREATE TABLE IF NOT EXISTS audit_log (id INTEGER PRIMARY KEY"
                            " AUTOINCREMENT, time TEXT NOT NULL, actor TEXT NOT NULL,"
                            " action TEXT NOT NULL)")
            tx.conn.executemany("INSERT INTO audit_log (id, time, actor, action) VALUES"
                                " (?, ?, ?, ?)", [(5, NOW, "ann", "allocate"),
                                                  (9, NOW, "bob", "release")])
        with dst.write() as tx:
            tx.conn.execute("CREATE TABLE IF NOT EXISTS audit_log (id BIGSERIAL PRIMARY KEY,"
                            " time TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL)")
    finally:
        src.close()
        dst.close()
    for copied, already in ((2, 0), (0, 2)):  # a second run copies nothing twice
        r = migrate(tmp_path, "--from", f"sqlite:///{db}", "--to", url, "--json")
        assert r.returncode == 0, r.stderr
        tables = {t["table"]: t for t in json.loads(r.stdout)["tables"]}
        assert tables["audit_log"] == {"table": "audit_log", "source_rows": 2, "copied": copied,
                                       "already_there": already, "target_rows": 2,
                                       "verified": True}
    dst = PostgresStore(url)
    try:
        with dst.read() as tx:
            rows = tx.conn.execute("SELECT id, actor, action FROM audit_log ORDER BY id"
                                   ).fetchall()
        assert [tuple(r) for r in rows] == [(5, "ann", "allocate"), (9, "bob", "release")]
    finally:
        dst.close()
