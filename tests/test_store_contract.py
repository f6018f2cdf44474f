"""The store contract: the same behaviour from every backend (SQLite file, PostgreSQL cluster).

Each test runs once per backend against a fresh, empty database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from port_server.models import Allocation, AllocationFilter, AllocationRequest
from port_server.service import RegistryService
from port_server.settings import Settings
from port_server.store.base import DuplicateKey, Store
from port_server.store.migrations import MIGRATIONS

NOW = "2026-01-01T00:00:00.000000Z"


def _open(kind: str, where: str) -> Store:
    if kind == "sqlite":
        from port_server.store.sqlite import SQLiteStore

        return SQLiteStore(where)
    from port_server.store.postgres import PostgresStore

    return PostgresStore(where)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if request.param == "sqlite":
        return "sqlite", str(tmp_path / "registry.db")
    return "postgres", request.getfixturevalue("pg_cluster").new_database()


@pytest.fixture
def opener(backend: tuple[str, str]) -> Iterator[Callable[[], Store]]:
    """Opens another store on the same database (as another process or server would)."""
    opened: list[Store] = []

    def open_one() -> Store:
        store = _open(*backend)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


@pytest.fixture
def store(opener: Callable[[], Store]) -> Store:
    return opener()


def req(service: str, app: str = "app", instance: str = "dev", **kw: Any) -> AllocationRequest:
    return AllocationRequest(app=app, instance=instance, service=service, **kw)


def add(store: Store, service: str, port: int, host: str = "h1", **kw: Any) -> Allocation:
    with store.write() as tx:
        return tx.insert(host, req(service, **kw), port, NOW)


def test_migrations_applied_once_and_recorded(opener: Callable[[], Store]) -> None:
    first = opener()
    names = [m.name for m in MIGRATIONS]
    assert first.applied_migrations() == sorted(names)
    second = opener()  # reopening migrates nothing twice
    assert second.applied_migrations() == sorted(names)
    second.check()


def test_allocation_path_migration_keeps_older_rows(backend: tuple[str, str]) -> None:
    """A database from before ``allocation_path`` gets the column; its rows get path ""."""
    kind, where = backend
    later = [m for m in MIGRATIONS if m.name == "allocation_path"]
    MIGRATIONS.remove(later[0])
    try:
        _open(kind, where).close()
    finally:
        MIGRATIONS.append(later[0])
    sql = ("INSERT INTO allocations (app, instance, service, port, created_at, host)"
           " VALUES ('old', 'dev', 'db', 4321, 'then', 'h1')")
    if kind == "sqlite":
        import sqlite3

        with sqlite3.connect(where) as conn:
            conn.execute(sql)
    else:
        import psycopg

        with psycopg.connect(where, autocommit=True) as conn:
            conn.execute(sql)
    store = _open(kind, where)
    try:
        assert "allocation_path" in store.applied_migrations()
        with store.read() as tx:
            assert [a.path for a in tx.select(AllocationFilter(app="old"))] == [""]
        assert add(store, "web", 4322, path="/src/wt").path == "/src/wt"
    finally:
        store.close()


def test_insert_round_trips_every_field(store: Store) -> None:
    alloc = add(store, "web", 4100, type="web", owner="ann", environment="dev", status="up",
                url="http://x", note="n\tote", source="compose", pid=42, pid_start=12.5,
                command="npm run dev", protected=True, expires_at="2030-01-01T00:00:00Z",
                protocol="udp", path="/home/ann/shop-wt")
    with store.read() as tx:
        got = tx.get(alloc.id)
    assert got == alloc and got is not None and got.path == "/home/ann/shop-wt"
    assert got is not None and got.protected is True and got.pid_start == 12.5
    assert got.host == "h1" and got.created_at == NOW and got.updated_at == NOW
    with store.read() as tx:
        assert tx.get(alloc.id + 1000) is None
        assert tx.find_key("h1", "app", "dev", "web") == alloc
        assert tx.find_key("h2", "app", "dev", "web") is None
        assert tx.find_port("h1", 4100) == [alloc]
        assert tx.find_port("h2", 4100) == []


def test_ids_increase(store: Store) -> None:
    ids = [add(store, f"s{i}", 4000 + i).id for i in range(5)]
    assert ids == sorted(ids) and len(set(ids)) == 5


def test_unique_port_per_host_and_protocol(store: Store) -> None:
    add(store, "a", 4200)
    with pytest.raises(DuplicateKey), store.write() as tx:
        tx.insert("h1", req("b"), 4200, NOW)
    add(store, "c", 4200, protocol="udp")  # same port, other protocol
    add(store, "a", 4200, host="h2")  # same port and key, other host
    with store.read() as tx:
        assert len(tx.find_port("h1", 4200)) == 2
        assert len(tx.select(AllocationFilter(host="*", port=4200))) == 3


def test_unique_service_key_per_host(store: Store) -> None:
    add(store, "a", 4300)
    with pytest.raises(DuplicateKey), store.write() as tx:
        tx.insert("h1", req("a"), 4301, NOW)
    with store.read() as tx:
        assert tx.find_port("h1", 4301) == []


def test_transaction_usable_after_duplicate(store: Store) -> None:
    add(store, "a", 4400)
    with store.write() as tx:
        with pytest.raises(DuplicateKey):
            tx.insert("h1", req("b"), 4400, NOW)
        assert [a.service for a in tx.find_port("h1", 4400)] == ["a"]
        tx.insert("h1", req("b"), 4401, NOW)
    with store.read() as tx:
        assert tx.find_key("h1", "app", "dev", "b") is not None


def test_failed_transaction_applies_nothing(store: Store) -> None:
    class Boom(Exception):
        pass

    keep = add(store, "keep", 4500)
    with pytest.raises(Boom), store.write() as tx:
        tx.insert("h1", req("x"), 4501, NOW)
        tx.update(keep.id, {"note": "changed"})
        tx.delete([keep.id])
        raise Boom()
    with store.read() as tx:
        assert tx.find_port("h1", 4501) == []
        assert tx.get(keep.id) == keep


def test_next_unregistered(store: Store) -> None:
    with store.read() as tx:
        assert tx.next_unregistered("h1", 5000, 5010) == 5000
        assert tx.next_unregistered("h1", 5011, 5010) is None
    for port in (5000, 5001, 5002, 5004, 5010):
        add(store, f"s{port}", port)
    add(store, "other", 5003, host="h2")  # another host's ports do not count
    with store.read() as tx:
        assert tx.next_unregistered("h1", 5000, 5010) == 5003
        assert tx.next_unregistered("h1", 5004, 5010) == 5005
        assert tx.next_unregistered("h1", 5010, 5010) is None
        assert tx.next_unregistered("h1", 5009, 5010) == 5009
        assert tx.next_unregistered("h2", 5003, 5003) is None
        assert tx.next_unregistered("h2", 5000, 5010) == 5000


def test_ranges_count_distinct_ports(store: Store) -> None:
    add(store, "a", 6000)
    add(store, "b", 6000, protocol="udp")
    add(store, "c", 6005)
    add(store, "d", 6020)
    add(store, "e", 6001, host="h2")
    with store.read() as tx:
        assert tx.ports_in_range("h1", 6000, 6010) == [6000, 6005]
        assert tx.ports_in_range("h2", 6000, 6010) == [6001]


def test_select_filters(store: Store) -> None:
    a = add(store, "web", 7000, type="web", owner="ann")
    b = add(store, "db", 7001, type="db", owner="bob", app="other")
    c = add(store, "web", 7000, host="h2", owner="ann")
    with store.read() as tx:
        assert tx.select(AllocationFilter(host="h1")) == [a, b]
        assert tx.select(AllocationFilter(host="*")) == [a, b, c]
        assert tx.select(AllocationFilter()) == [a, b, c]
        assert tx.select(AllocationFilter(host="*", owner="ann")) == [a, c]
        assert tx.select(AllocationFilter(host="h1", app="other")) == [b]
        assert tx.select(AllocationFilter(host="h1", type="web", port=7000)) == [a]
        assert tx.select(AllocationFilter(id=b.id)) == [b]
        assert tx.select(AllocationFilter(host="*"), limit=2) == [a, b]
        assert tx.select(AllocationFilter(host="nobody")) == []


def test_update(store: Store) -> None:
    a = add(store, "web", 7100)
    with store.write() as tx:
        got = tx.update(a.id, {"note": "hello", "protected": True, "updated_at": "later"})
    assert got == replace(a, note="hello", protected=True, updated_at="later")
    with store.read() as tx:
        assert tx.get(a.id) == got
    with pytest.raises(ValueError), store.write() as tx:
        tx.update(a.id, {"port": 1})


def test_delete(store: Store) -> None:
    ids = [add(store, f"s{i}", 7200 + i).id for i in range(4)]
    with store.write() as tx:
        assert tx.delete([]) == 0
        assert tx.delete([ids[0], ids[2], 999_999]) == 2
    with store.read() as tx:
        assert [a.id for a in tx.select(AllocationFilter(host="h1"))] == [ids[1], ids[3]]


def test_insert_allocation_keeps_id(store: Store) -> None:
    kept = Allocation(id=500, app="imp", instance="i", service="s", port=7300, created_at=NOW,
                      host="h1", source="import", protected=True)
    with store.write() as tx:
        tx.insert_allocation(kept)  # type: ignore[attr-defined]
    with store.read() as tx:
        assert tx.get(500) == kept
    assert add(store, "after", 7301).id > 500  # the id sequence moved past imported ids


def test_second_store_sees_committed_writes(opener: Callable[[], Store]) -> None:
    one, two = opener(), opener()
    a = add(one, "web", 7400)
    with two.read() as tx:
        assert tx.get(a.id) == a


def test_service_threads_allocate_without_duplicates(
        opener: Callable[[], Store], settings: Settings) -> None:
    """Two stores (as two servers) and four threads each, same host: no port given twice."""
    cfg = replace(settings, probe_os=False, host_id="shared")
    services = [RegistryService(opener(), cfg), RegistryService(opener(), cfg)]
    ports: list[int] = []
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(10):
                res = services[n % 2].allocate(req(f"t{n}-{i}", type="web"))
                ports.append(res.allocation.port)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(ports) == 80 and len(set(ports)) == 80


def test_next_unregistered_walks_the_host_port_index(store: Store, backend: tuple[str, str]
                                                     ) -> None:
    """The gap query reads the (host, port) index, never the whole table."""
    with store.write() as tx:
        for host in ("h1", "h2", "h3"):
            for port in range(8000, 8400):
                tx.insert(host, req(f"s{port}"), port, NOW)
    with store.read() as tx:
        conn: Any = tx.conn  # type: ignore[attr-defined]
        if backend[0] == "sqlite":
            from port_server.store.sql import _NEXT_UNREGISTERED as sql

            rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}", {"h": "h1", "s": 8000, "e": 9000})
            plan = "\n".join(str(r[-1]) for r in rows)
        else:
            from port_server.store.postgres import to_psycopg
            from port_server.store.sql import _NEXT_UNREGISTERED

            sql = to_psycopg(_NEXT_UNREGISTERED)  # the statement PostgresTx runs

            conn.execute("ANALYZE allocations")
            conn.execute("SET LOCAL enable_seqscan = off")
            rows = conn.execute(f"EXPLAIN {sql}", {"h": "h1", "s": 8000, "e": 9000})
            plan = "\n".join(str(r[0]) for r in rows)
        assert tx.next_unregistered("h1", 8000, 9000) == 8400
    assert "INDEX" in plan.upper(), plan
    assert "SCAN ALLOCATIONS\n" not in plan.upper() + "\n", plan
    assert "SEQ SCAN" not in plan.upper(), plan


def test_release_counts_per_host(store: Store) -> None:
    a = add(store, "a", 9100)
    b = add(store, "b", 9101)
    c = add(store, "c", 9100, host="h2")
    with store.read() as tx:
        assert tx.release_count("h1") == 0
    with store.write() as tx:
        tx.delete([a.id, c.id])
    with store.write() as tx:
        tx.delete([b.id, 999_999])
    with store.read() as tx:
        assert tx.release_count("h1") == 2
        assert tx.release_count("h2") == 1
        assert tx.release_count("nobody") == 0


def test_a_port_released_by_another_server_is_handed_out_again(
        opener: Callable[[], Store], settings: Settings) -> None:
    """Server A's hint sits above its ports; server B releases A's lowest port: A's next
    allocation takes that port again (the release count told A its hint was stale)."""
    cfg = replace(settings, probe_os=False, host_id="shared")
    server_a, server_b = RegistryService(opener(), cfg), RegistryService(opener(), cfg)
    ports = [server_a.allocate(req(f"s{i}", type="db")).allocation.port for i in range(5)]
    assert ports == sorted(ports)
    released = server_b.release(AllocationFilter(service="s1"))
    assert [r.port for r in released] == [ports[1]]
    assert server_a.allocate(req("again", type="db")).allocation.port == ports[1]


def test_leased_lists_unprotected_leases_of_one_host(store: Store) -> None:
    ttl = add(store, "ttl", 4300, expires_at="2030-01-01T00:00:00.000000Z")
    pid = add(store, "pid", 4301, pid=99, pid_start=1.5)
    add(store, "none", 4302)
    add(store, "guarded", 4303, expires_at="2030-01-01T00:00:00.000000Z", protected=True)
    add(store, "elsewhere", 4304, host="h2", pid=5)
    with store.read() as tx:
        assert tx.leased("h1") == [ttl, pid]


def test_audit_log_round_trip_filter_and_prune(store: Store) -> None:
    from port_server.models import AuditEntry, AuditFilter

    def entry(i: int, **kw: Any) -> AuditEntry:
        base: dict[str, Any] = {
            "id": 0, "time": f"2030-01-0{i}T00:00:00.000000Z", "actor": "ann",
            "action": "allocate", "actor_uid": 1000, "alloc_id": i, "app": "a",
            "instance": "i", "service": f"s{i}", "port": 4000 + i, "host": "h1",
            "before": None, "after": {"port": 4000 + i, "nested": {"x": [1, 2]}}}
        return AuditEntry(**{**base, **kw})

    with store.write() as tx:
        for i in range(1, 6):
            tx.add_audit(entry(i, app="b" if i == 5 else "a",
                               action="release" if i == 4 else "allocate",
                               before={"k": "v"} if i == 4 else None, reason="why"))
    with store.read() as tx:
        every = tx.select_audit(AuditFilter())
        assert [e.alloc_id for e in every] == [1, 2, 3, 4, 5]  # oldest first
        assert every[0] == replace(entry(1, reason="why"), id=every[0].id)
        assert every[3].before == {"k": "v"} and every[3].after is not None
        assert [e.alloc_id for e in tx.select_audit(AuditFilter(app="b"))] == [5]
        assert [e.alloc_id for e in tx.select_audit(AuditFilter(port=4002))] == [2]
        assert [e.alloc_id for e in tx.select_audit(AuditFilter(action="release"))] == [4]
        assert [e.alloc_id for e in tx.select_audit(
            AuditFilter(since="2030-01-03T00:00:00.000000Z"))] == [3, 4, 5]
        assert [e.alloc_id for e in tx.select_audit(AuditFilter(limit=2))] == [4, 5]
    with store.write() as tx:
        assert tx.prune_audit("2030-01-02T00:00:00.000000Z", keep=10) == 1
        assert tx.prune_audit("2000-01-01T00:00:00.000000Z", keep=2) == 2
    with store.read() as tx:
        assert [e.alloc_id for e in tx.select_audit(AuditFilter())] == [4, 5]


def test_http_flag_round_trips_and_updates(store: Store) -> None:
    web = add(store, "web", 3001, http=True)
    api = add(store, "api", 3002)
    with store.read() as tx:
        assert tx.get(web.id).http is True  # type: ignore[union-attr]
        assert tx.get(api.id).http is False  # type: ignore[union-attr]
    with store.write() as tx:
        assert tx.update(web.id, {"http": False}).http is False


def test_allocation_http_migration_marks_the_http_pools(backend: tuple[str, str]) -> None:
    """A registry from before the ``http`` field: its web/api/monitoring rows get names."""
    kind, where = backend
    before = [m for m in MIGRATIONS if m.name != "allocation_http"]
    if kind == "sqlite":
        import sqlite3

        conn: Any = sqlite3.connect(where, isolation_level=None)
        mark = "?"
    else:
        import psycopg

        conn = psycopg.connect(where, autocommit=True)
        mark = "%s"
    try:
        conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY,"
                     " applied_at TEXT NOT NULL)")
        for migration in before:
            for statement in getattr(migration, kind).split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"INSERT INTO schema_migrations VALUES ({mark}, 'then')",
                         (migration.name,))
        for port, type_ in ((3001, "web"), (5001, "db"), (9001, "monitoring")):
            conn.execute("INSERT INTO allocations (app, instance, service, port, created_at,"
                         f" host, type) VALUES ('a', 'i', {mark}, {mark}, 'then', 'h1', {mark})",
                         (type_, port, type_))
    finally:
        conn.close()
    store = _open(kind, where)
    try:
        assert "allocation_http" in store.applied_migrations()
        with store.read() as tx:
            marked = {a.type: a.http for a in tx.select(AllocationFilter(host="h1"))}
        assert marked == {"web": True, "db": False, "monitoring": True}
    finally:
        store.close()
