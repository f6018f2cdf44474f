"""Nothing blocks the event loop: while the writer waits on storage, the server still answers.

A real port-server subprocess and a real sqlite3 connection of our own that holds the database
file's write lock (``BEGIN EXCLUSIVE``). The server's writer thread then waits in its own
``BEGIN IMMEDIATE`` (busy timeout), with an allocation queued behind it; liveness, readiness and
reads must keep answering quickly, and the allocation must complete once the lock is gone.
"""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import threading
import time

from conftest import ServerProc
from port_server.models import AllocationRequest

#: Each answer while the writer is blocked; generous for a loaded 2-core machine, and far
#: below the seconds the writer is held (a request that waited on it would take that long).
FAST = 0.5
HELD = 3.0


def _timed_gets(srv: ServerProc, paths: list[str], until: threading.Event) -> list[float]:
    """GET each path in turn until ``until`` is set; the slowest answer (seconds), all 200."""
    worst: dict[str, float] = dict.fromkeys(paths, 0.0)
    with srv.client(timeout=10) as c:
        while not until.is_set():
            for path in paths:
                t = time.perf_counter()
                status, _ = c.request("GET", path)
                worst[path] = max(worst[path], time.perf_counter() - t)
                assert status == 200, (path, status)
            time.sleep(0.02)
    return [worst[p] for p in paths]


def test_reads_and_livez_answer_while_the_writer_waits_on_a_locked_database(
        server: ServerProc) -> None:
    with server.client() as c:
        c.allocate(AllocationRequest(app="seen", instance="main", service="web"))
    blocker = sqlite3.connect(server.data_dir / "registry.db", isolation_level=None, timeout=10)
    blocker.execute("BEGIN EXCLUSIVE")
    done = threading.Event()
    outcome: dict[str, object] = {}

    def allocate() -> None:
        t = time.perf_counter()
        with server.client(timeout=30) as c:
            outcome["result"] = c.allocate(AllocationRequest(app="late", instance="main",
                                                             service="web"))
        outcome["seconds"] = time.perf_counter() - t
        done.set()

    writer = threading.Thread(target=allocate)
    try:
        writer.start()
        time.sleep(0.3)  # the allocation is queued and the writer thread waits on the lock
        stop = threading.Event()
        timer = threading.Timer(HELD - 0.6, stop.set)
        timer.start()
        worst = _timed_gets(server, ["/livez", "/v1/allocations?app=seen", "/v1/pools"], stop)
        assert not done.is_set(), "the allocation should still wait for the lock"
    finally:
        blocker.execute("COMMIT")
        blocker.close()
    writer.join(20)
    assert done.is_set(), "the allocation never completed once the lock was released"
    assert max(worst) < FAST, f"answers took up to {max(worst):.3f} s while the writer waited"
    assert float(outcome["seconds"]) >= HELD - 1.0  # type: ignore[arg-type]
    assert outcome["result"].created  # type: ignore[attr-defined]


#: Child processes holding many open files each: naming a port's holder reads every process's
#: /proc/PID/fd, so they make that scan slow for real (hundreds of ms) without touching the server.
FD_HOLDER = """
import os, resource, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
fd = os.open(os.devnull, os.O_RDONLY)
held = [os.dup(fd) for _ in range(hard - 64)]
print('ready', flush=True)
sys.stdin.read()
"""


def test_a_slow_process_scan_does_not_stall_livez(server: ServerProc) -> None:
    """An explicit port another process has bound: the writer probes it and the server scans
    the machine's processes to name the holder, which many open files make slow. The scan runs
    off the event loop: /livez stays much quicker than one scan while several requests scan."""
    from port_server.system.probe import processes_on_port

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    children = [subprocess.Popen([sys.executable, "-c", FD_HOLDER], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True) for _ in range(16)]
    stop = threading.Event()
    refusals: list[int] = []

    def hammer() -> None:
        with server.client(timeout=60) as c:
            while not stop.is_set():
                status, body = c.request("POST", "/v1/allocations", {
                    "app": "busy", "instance": "main", "service": "web", "port": port})
                refusals.append(status)
                assert status == 409 and body["code"] == "port_in_use", body

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    try:
        for child in children:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        t = time.perf_counter()
        assert processes_on_port(port)
        scan = time.perf_counter() - t
        assert scan > 0.2, f"the scan took only {scan:.3f} s: the setup did not make it slow"
        for thread in threads:
            thread.start()
        timer = threading.Timer(4 * scan + 1.0, stop.set)
        timer.start()
        worst = _timed_gets(server, ["/livez"], stop)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
        for child in children:
            child.kill()
            child.wait()
        holder.close()
    assert refusals, "no allocation reached the probe"
    assert worst[0] < scan / 2, (f"/livez took up to {worst[0]:.3f} s beside process scans"
                                 f" of {scan:.3f} s each")
