"""Many client processes at once, and kill -9 of the server while they allocate."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO, ServerProc, make_server

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


def test_kill_9_loses_no_acknowledged_allocation(tmp_path: Path) -> None:
    srv = make_server(tmp_path)
    outs: list[Path] = []
    for round_no in range(10):
        srv.start()
        round_outs = [tmp_path / f"r{round_no}w{i}.jsonl" for i in range(6)]
        outs += round_outs
        procs = [spawn(srv, f"r{round_no}w{i}", 10_000, out, "--until-error")
                 for i, out in enumerate(round_outs)]
        # Kill only once this round's clients are mid-stream (slow machines start them late).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(records(round_outs)) < 12:
            time.sleep(0.02)
        time.sleep(0.05 * (round_no % 4))
        srv.kill9()
        for proc in procs:
            assert proc.wait(timeout=60) == 0
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
