"""The one writer: group commit with a savepoint per request, on a real SQLite file."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from port_server.audit import AuditedStore
from port_server.errors import InvalidInput, StoreUnavailable
from port_server.models import AllocationFilter, AllocationRequest
from port_server.service.writer import Writer
from port_server.store.base import StoreTx
from port_server.store.sqlite import SQLiteStore

NOW = "2026-01-01T00:00:00.000000Z"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "data" / "registry.db")
    yield s
    s.close()


def insert(service: str, port: int, fail: bool = False) -> Callable[[StoreTx], int]:
    def fn(tx: StoreTx) -> int:
        alloc = tx.insert("h", AllocationRequest(app="a", instance="i", service=service), port,
                          NOW)
        if fail:
            raise InvalidInput("refused after the insert", field="x")
        return alloc.id
    return fn


def held_batch(writer: Writer, jobs: list[Callable[[StoreTx], int]]) -> list[object]:
    """Submit ``jobs`` while the writer is busy, so they are applied as one batch."""
    started, release = threading.Event(), threading.Event()

    def blocker(tx: StoreTx) -> int:
        started.set()
        release.wait(10)
        return 0

    first = writer.submit(blocker)
    assert started.wait(10)
    futures = [writer.submit(fn) for fn in jobs]
    release.set()
    first.result(10)
    out: list[object] = []
    for fut in futures:
        try:
            out.append(fut.result(10))
        except Exception as exc:
            out.append(exc)
    return out


def services(store: SQLiteStore) -> set[str]:
    with store.read() as tx:
        return {a.service for a in tx.select(AllocationFilter(host="h"))}


def test_waiting_requests_share_one_commit(store: SQLiteStore) -> None:
    writer = Writer(store)
    results = held_batch(writer, [insert(f"s{i}", 2000 + i) for i in range(20)])
    assert all(isinstance(r, int) for r in results)
    assert writer.stats.largest_batch == 20
    assert writer.stats.batches == 2  # the blocker's batch, then the 20 together
    assert services(store) == {f"s{i}" for i in range(20)}


def test_a_failing_request_rolls_back_only_its_savepoint(store: SQLiteStore) -> None:
    writer = Writer(store)
    results = held_batch(writer, [insert("ok1", 3001), insert("bad", 3002, fail=True),
                                  insert("dup", 3001), insert("ok2", 3003)])
    assert isinstance(results[0], int) and isinstance(results[3], int)
    assert isinstance(results[1], InvalidInput)
    assert results[2].__class__.__name__ == "DuplicateKey"
    assert services(store) == {"ok1", "ok2"}
    assert writer.stats.largest_batch == 4


def test_listeners_run_once_per_commit_after_it(store: SQLiteStore) -> None:
    seen: list[set[str]] = []
    audited = AuditedStore(store, lambda: NOW, on_commit=lambda: seen.append(services(store)))
    writer = Writer(audited)
    held_batch(writer, [insert("x", 4001), insert("y", 4002)])
    assert seen == [{"x", "y"}]  # once, after the pair's commit (the blocker changed nothing)


def test_a_removed_data_dir_refuses_the_whole_batch(store: SQLiteStore, tmp_path: Path) -> None:
    writer = Writer(store)
    writer.call(insert("before", 5001))
    shutil.rmtree(tmp_path / "data")
    with pytest.raises(StoreUnavailable) as err:
        writer.call(insert("after", 5002))
    assert err.value.extra["cause"] == "removed"
    assert "removed or replaced" in err.value.message
    assert writer.last_fault is not None and writer.stats.faults == 1


def test_a_write_from_inside_a_write_is_refused(store: SQLiteStore) -> None:
    writer = Writer(store)

    def nested(tx: StoreTx) -> int:
        return writer.call(insert("inner", 6001))

    with pytest.raises(RuntimeError, match="wait for itself"):
        writer.call(nested)


def test_a_lone_failing_request_rolls_back_its_transaction(store: SQLiteStore) -> None:
    writer = Writer(store)
    with pytest.raises(InvalidInput):
        writer.call(insert("bad", 7001, fail=True))  # a batch of one: no savepoint needed
    assert writer.call(insert("good", 7001)) > 0  # the port it inserted was rolled back
    assert services(store) == {"good"}
    assert writer.stats.faults == 0
