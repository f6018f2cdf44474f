"""Live scan speed: `portctl scan --json` against a real port-server with 1,000 listening sockets.

Opens LISTENERS sockets (TCP on 127.0.0.1 and ::1, plus some UDP), registers a quarter of them with
this process's pid (so the conflict check has to find the holding processes), starts a real
port-server on a free port with a temp data dir, and times the real `portctl` executable end to
end. Also times the OS half in process: the kernel tables we read vs psutil.net_connections.
Target: median <= 300 ms for `portctl scan --json` (issue 4).
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import BIN, running_server, table

TARGET_MS = 300.0


def raise_nofile(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))


def open_listeners(count: int) -> list[socket.socket]:
    socks = []
    for i in range(count):
        if i % 10 == 9:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
        else:
            v6 = i % 2 == 1 and socket.has_ipv6
            s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET)
            s.bind(("::1" if v6 else "127.0.0.1", 0))
            s.listen(8)
        socks.append(s)
    return socks


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def stats(name: str, times: list[float], cpu: float | None = None, extra: str = ""
          ) -> tuple[str, str, str, str, str]:
    times = sorted(times)
    p90 = times[min(len(times) - 1, int(len(times) * 0.9))]
    return (name, f"{statistics.median(times):.1f}", f"{p90:.1f}",
            "" if cpu is None else f"{cpu:.1f}", extra)


def with_cpu(fn: Callable[[], object], runs: int, server_pid: int) -> tuple[list[float], float]:
    """Wall times, and the CPU ms per run spent by the CLI processes plus the server: on a
    busy machine wall time mostly measures waiting for a core, CPU time does not."""
    import psutil

    server = psutil.Process(server_pid)

    def cpu_now() -> float:
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        srv = server.cpu_times()
        return kids.ru_utime + kids.ru_stime + srv.user + srv.system

    before = cpu_now()
    walls = timed(fn, runs)
    return walls, (cpu_now() - before) * 1000 / runs


def register_quarter(addr: str, socks: list[socket.socket]) -> int:
    """Register a quarter of the sockets with this pid, so the scan must resolve holders."""
    from port_server.client import RegistryClient
    from port_server.models import AllocationRequest

    # v4 and v6 sockets may share a port number: register each port/protocol once.
    keys = {(s.getsockname()[1], "udp" if s.type == socket.SOCK_DGRAM else "tcp")
            for s in socks[: len(socks) // 4]}
    with RegistryClient(addr) as client:
        for i, (port, protocol) in enumerate(sorted(keys)):
            client.allocate(AllocationRequest(
                app="bench", instance="scan", service=f"s{i}", port=port, protocol=protocol,
                force=True, pid=os.getpid(), command="python bench_scan.py"))
    return len(keys)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--listeners", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--peers", action="store_true", help="ignored (make bench passes it)")
    args = ap.parse_args()

    import json

    import psutil

    from port_server.scanners import live
    from port_server.system import sockets as live_sockets

    raise_nofile(args.listeners + 256)
    socks = open_listeners(args.listeners)
    try:
        with running_server() as (addr, env):
            registered = register_quarter(addr, socks)
            rows = 0
            server_ms: list[float] = []

            def portctl(*extra: str) -> Callable[[], None]:
                def run() -> None:
                    nonlocal rows
                    out = subprocess.run([str(BIN / "portctl"), "scan", "--json", *extra],
                                         env=env, capture_output=True, text=True, check=False)
                    if out.returncode not in (0, 1):
                        raise SystemExit(f"portctl scan failed: {out.stderr}")
                    report = json.loads(out.stdout)
                    rows = len(report["rows"])
                    server_ms.append(report["elapsed_ms"])
                return run

            from port_server.client import RegistryClient

            with RegistryClient(addr) as client:
                server_pid = int(client.info()["pid"])
            portctl()()  # warm the server (first psutil import, page cache)
            server_ms.clear()
            plain, cpu = with_cpu(portctl(), args.runs, server_pid)
            results = [stats("portctl scan --json (end to end)", plain, cpu,
                             f"server {statistics.median(server_ms):.1f} ms, {rows} rows")]
            results.append(stats("portctl health (CLI start-up, for scale)", *with_cpu(
                lambda: subprocess.run([str(BIN / "portctl"), "health"], env=env,
                                       capture_output=True, check=True), args.runs, server_pid)))
            server_ms.clear()
            detailed, cpu = with_cpu(portctl("-d"), args.runs, server_pid)
            results.append(stats("portctl scan -d --json (end to end)", detailed, cpu,
                                 f"server {statistics.median(server_ms):.1f} ms, {rows} rows"))
        results += [
            stats("in process: sockets over netlink (used)",
                  timed(live_sockets.read_sockets, args.runs)),
            stats("in process: sockets from /proc/net text",
                  timed(live_sockets.read_proc_net, args.runs)),
            stats("in process: psutil.net_connections",
                  timed(lambda: psutil.net_connections("inet"), args.runs)),
            stats("in process: live.scan(details=True)",
                  timed(lambda: live.scan([], details=True), args.runs)),
        ]
    finally:
        for s in socks:
            s.close()
    print(f"{args.listeners} listening sockets, {registered} registered with a pid;"
          f" {args.runs} runs; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    table(("case", "median ms", "p90 ms", "cpu ms/run", "note"), results)
    median = statistics.median(plain)
    verdict = "meets" if median <= TARGET_MS else "MISSES"
    print(f"portctl scan --json median {median:.1f} ms: {verdict} the {TARGET_MS:.0f} ms target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
