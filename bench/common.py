"""Shared helpers for the benchmark scripts: a real port-server on a free port, timing, tables."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(*args: str, env_extra: dict[str, str] | None = None,
                   under: str | None = None) -> Iterator[tuple[str, dict[str, str]]]:
    """Yield (addr, env) for a fresh port-server with its own temp data dir (in ``under``)."""
    from port_server.client import RegistryClient

    with tempfile.TemporaryDirectory(prefix="psbench-", dir=under) as tmp:
        port = free_port()
        env = {**os.environ, "PORT_SERVER_HOME": tmp, "HOME": tmp,
               "PORT_SERVER_ADDR": f"127.0.0.1:{port}", **(env_extra or {})}
        proc = subprocess.Popen([str(BIN / "port-server"), "--port", str(port),
                                 "--log-level", "warning", *args],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        addr = f"127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with RegistryClient(addr, timeout=2) as c:
                        c.health()
                    break
                except Exception:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("port-server did not start") from None
                    time.sleep(0.05)
            yield addr, env
        finally:
            proc.terminate()
            proc.wait(15)


def median_ms(fn: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = " | ".join(f"{{:<{w}}}" for w in widths)
    print(line.format(*headers))
    print("-+-".join("-" * w for w in widths))
    for row in cells:
        print(line.format(*row))
    sys.stdout.flush()


#: One client process: allocate N services on one kept-alive connection, print each latency (ms).
ALLOC_CLIENT = """
import sys, time
from port_server.client import RegistryClient
from port_server.models import AllocationRequest
c = RegistryClient(sys.argv[1])
c.request('GET', '/livez')  # connected and warm before the clock starts
out = []
start = time.monotonic()
for i in range(int(sys.argv[3])):
    t = time.perf_counter()
    c.allocate(AllocationRequest(app='bench', instance=sys.argv[2], service=f's{i}'))
    out.append((time.perf_counter() - t) * 1000)
print(start, time.monotonic())
print(' '.join(f'{x:.3f}' for x in out))
"""


def run_clients(addrs: Sequence[str], tag: str, clients: int, per_client: int,
                code: str = ALLOC_CLIENT) -> tuple[float, float, float]:
    """``clients`` processes spread over ``addrs``, each running ``code`` (argv: addr, tag,
    count), which prints its first and last monotonic time on one line, then its latencies:
    (requests/s from the first start to the last end, p50 ms, p99 ms). Process start-up is
    outside the clock."""
    procs = [subprocess.Popen([sys.executable, "-c", code, addrs[k % len(addrs)],
                               f"{tag}{k}", str(per_client)], stdout=subprocess.PIPE, text=True)
             for k in range(clients)]
    outs = [p.communicate()[0].split("\n", 1) for p in procs]
    if any(p.returncode for p in procs):
        raise RuntimeError(f"a client failed in {tag}")
    spans = [tuple(float(x) for x in first.split()) for first, _ in outs]
    wall = max(end for _, end in spans) - min(start for start, _ in spans)
    lat = sorted(float(x) for _, rest in outs for x in rest.split())
    return len(lat) / wall, statistics.median(lat), percentile(lat, 0.99)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]
