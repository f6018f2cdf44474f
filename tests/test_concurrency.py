"""Many client processes at once, and kill -9 of the server while they allocate."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import REPO, ServerProc, make_server
from port_server.models import AuditFilter

WORKER = REPO / "tests" / "workers" / "alloc_worker.py"


def spawn(server: ServerProc, app: str, count: int, out: Path,
          *flags: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(WORKER), server.addr, app, str(count), str(out),
                             *flags], env=server.env)


def records(paths: list[Path]) -> list[dict[str, object]]:
    out = []
    for path in paths:
        if path.exists():
            out += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return out


def crash_round(srv: ServerProc, tmp: Path, tag: str, workers: int, min_records: int,
                pause: float, before_kill: Callable[[], None] | None = None) -> list[Path]:
    """Start ``srv``, let ``workers`` clients allocate, kill -9 it once they are mid-stream
    (slow machines start them late) and ``pause`` later; the clients' record files."""
    srv.start()
    outs = [tmp / f"{tag}w{i}.jsonl" for i in range(workers)]
    procs = [spawn(srv, f"{tag}w{i}", 10_000, out, "--until-error")
             for i, out in enumerate(outs)]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(records(outs)) < min_records:
        time.sleep(0.02)
    if before_kill is not None:
        before_kill()
    time.sleep(pause)
    srv.kill9()
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    return outs


@pytest.fixture(params=["sqlite", "postgres"])
def store_args(request: pytest.FixtureRequest) -> list[str]:
    """Server flags for each backend: the default SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return []
    return ["--store", request.getfixturevalue("pg_cluster").new_database()]


@pytest.fixture
def server(tmp_path: Path, store_args: list[str]) -> Iterator[ServerProc]:
    srv = make_server(tmp_path, store_args).start()
    try:
        yield srv
    finally:
        srv.stop()


def test_32_processes_never_share_a_port(server: ServerProc, tmp_path: Path) -> None:
    outs = [tmp_path / f"w{i}.jsonl" for i in range(32)]
    procs = [spawn(server, f"app{i}", 8, out) for i, out in enumerate(outs)]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    got = records(outs)
    failures = [r for r in got if "error" in r]
    assert failures == []
    assert len(got) == 32 * 8
    ports = [r["port"] for r in got]
    assert len(set(ports)) == len(ports)
    with server.client() as client:
        registry = {(a.id, a.port, a.key) for a in client.list()}
    assert {(r["id"], r["port"], r["key"]) for r in got} == registry


def test_kill_9_loses_no_acknowledged_allocation(tmp_path: Path, store_args: list[str]) -> None:
    srv = make_server(tmp_path, store_args)
    outs: list[Path] = []
    for round_no in range(10):
        outs += crash_round(srv, tmp_path, f"r{round_no}", 6, 12, 0.05 * (round_no % 4))
    srv.start()
    try:
        acked = [r for r in records(outs) if "error" not in r]
        assert len(acked) >= 120  # the clients really were allocating when the server died
        with srv.client() as client:
            registry = {(a.id, a.port, a.key) for a in client.list()}
        missing = [r for r in acked if (r["id"], r["port"], r["key"]) not in registry]
        assert missing == []
        ports = [p for _, p, _ in registry]
        assert len(ports) == len(set(ports))
    finally:
        srv.stop()


def test_kill_9_mid_group_commit_loses_nothing_and_half_applies_nothing(
        tmp_path: Path, store_args: list[str]) -> None:
    """8 clients at once make the writer commit several allocations together; killing the
    server while it does loses no acknowledged allocation, and every allocation in the registry
    has exactly its own audit entry (a batch commits whole or not at all)."""
    srv = make_server(tmp_path, store_args)
    outs: list[Path] = []
    batches: list[int] = []

    def note_batches() -> None:
        with srv.client() as client:
            batches.append(client.info()["writer"]["largest_batch"])

    for round_no in range(5):
        outs += crash_round(srv, tmp_path, f"g{round_no}", 8, 40, 0.03 * (round_no % 3),
                            note_batches)
    assert max(batches) > 1  # the kills did land among group commits
    srv.start()
    try:
        acked = [r for r in records(outs) if "error" not in r]
        with srv.client() as client:
            registry = {a.id: a for a in client.list()}
            audit = [e for e in client.log(AuditFilter(limit=100_000))
                     if e.action == "allocate"]
        assert [r for r in acked if r["id"] not in registry] == []
        assert sorted(e.alloc_id for e in audit if e.alloc_id is not None) == sorted(registry)
        assert all(e.after is not None and e.after["port"] == registry[e.alloc_id].port
                   for e in audit if e.alloc_id is not None)
    finally:
        srv.stop()
