"""One writer with group commit: four ratios, each taken in one run.

(a) SQLite: allocations/s with 8 concurrent clients >= 2x one client's (the same server).
(b) One connection's allocations/s >= 50% of the same server's trivial-endpoint (/livez)
    requests/s. An allocation waits for its own fsync (nothing else is queued to share it), so
    this compares the server's allocation path with its HTTP floor on a data dir in memory
    (/dev/shm, where fsync costs nothing); the same figure on disk and the disk's fsync time
    are printed beside it.
(c) While a 10,000-allocation import or a 1,000-service sync runs, /healthz and
    GET /v1/allocations?app=X answer with p99 <= 20 ms.
(d) PostgreSQL, two servers x 8 clients: group commit >= 2x one commit per allocation
    (PORT_SERVER_WRITE_BATCH=1, what every allocation cost before the writer).

Clients are separate processes, each on one kept-alive connection. The two sides of each ratio
run in alternating rounds (medians), so both see the same load on a shared machine.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from common import percentile, run_clients, running_server, table
from port_server.client import RegistryClient
from port_server.models import AllocationRequest

PER_CLIENT = int(os.environ.get("BENCH_WRITER_PER_CLIENT", "200"))
SHM = "/dev/shm" if os.path.isdir("/dev/shm") else None

#: One client process, one connection: blocks of N requests to a trivial endpoint and N
#: allocations, alternating (so both see the same machine load); prints the two rates.
ALTERNATING_CLIENT = """
import sys, time
from port_server.client import RegistryClient
from port_server.models import AllocationRequest
c = RegistryClient(sys.argv[1])
c.request('GET', '/livez')
n, rounds = int(sys.argv[2]), int(sys.argv[3])
spent = {'livez': 0.0, 'allocate': 0.0}
for r in range(rounds):
    t = time.perf_counter()
    for i in range(n):
        c.request('GET', '/livez')
    spent['livez'] += time.perf_counter() - t
    t = time.perf_counter()
    for i in range(n):
        c.allocate(AllocationRequest(app='b', instance=f'r{r}', service=f's{i}'))
    spent['allocate'] += time.perf_counter() - t
print(n * rounds / spent['livez'], n * rounds / spent['allocate'])
"""

#: One client process: a 10,000-entry import (argv[3] entries) or a sync of as many services.
BULK_CLIENT = """
import sys
from port_server.client import RegistryClient
from port_server.models import Allocation, AllocationRequest
c = RegistryClient(sys.argv[1], timeout=300)
n = int(sys.argv[3])
if sys.argv[2] == 'import':
    c.import_allocations([Allocation(id=0, app='imp', instance=f'i{i // 100}', service=f's{i}',
                                     port=20000 + i, created_at='') for i in range(n)])
else:
    c.sync_dokploy([AllocationRequest(app='dk', instance=f'i{i // 100}', service=f's{i}',
                                      port=40000 + i, source='dokploy') for i in range(n)])
print('done')
"""


def fsync_ms(directory: str, runs: int = 100) -> float:
    path = Path(directory) / f".fsync-{os.getpid()}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        t = time.perf_counter()
        for _ in range(runs):
            os.write(fd, b"x" * 4096)
            os.fsync(fd)
        return (time.perf_counter() - t) / runs * 1000
    finally:
        os.close(fd)
        path.unlink()


def writer_stats(addr: str) -> str:
    """The server's group commits so far: requests per batch on average and at most."""
    with RegistryClient(addr) as c:
        w = c.info()["writer"]
    return f"{w['requests'] / max(w['batches'], 1):.1f} per batch, max {w['largest_batch']}"


def bench_a(rounds: int = 3) -> list[object]:
    """1 client and 8 clients in alternating rounds on one server; the median of each."""
    ones: list[float] = []
    eights: list[float] = []
    with running_server() as (addr, _):
        for r in range(rounds):
            ones.append(run_clients([addr], f"one{r}", 1, PER_CLIENT)[0])
            eights.append(run_clients([addr], f"eight{r}", 8, PER_CLIENT // 2)[0])
        batches = writer_stats(addr)
    one, eight = statistics.median(ones), statistics.median(eights)
    ratio = eight / one
    return [f"(a) SQLite 8 clients / 1 client ({batches})", f"{eight:,.0f} / {one:,.0f} per s",
            f"{ratio:.2f}x", ">= 2x", "yes" if ratio >= 2 else "NO"]


def bench_b(under: str | None, label: str) -> list[object]:
    with running_server(under=under) as (addr, _):
        out = subprocess.run([sys.executable, "-c", ALTERNATING_CLIENT, addr,
                              str(PER_CLIENT // 2), "10"], capture_output=True, text=True,
                             check=True).stdout
    floor, alloc = (float(x) for x in out.split())
    ratio = alloc / floor
    return [f"(b) one connection, allocate / GET /livez, {label}",
            f"{alloc:,.0f} / {floor:,.0f} per s", f"{ratio:.0%}", ">= 50%",
            "yes" if ratio >= 0.5 else "NO"]


def latencies_during(addr: str, job: str, count: int) -> tuple[list[float], list[float], float]:
    """Probe /healthz and GET /v1/allocations?app=probe while ``job`` runs in another process:
    (healthz ms, list ms, the job's seconds)."""
    with RegistryClient(addr) as c:
        for i in range(5):
            c.allocate(AllocationRequest(app="probe", instance="x", service=f"s{i}"))
    health: list[float] = []
    listing: list[float] = []
    done = threading.Event()

    def probe(path: str, out: list[float]) -> None:
        with RegistryClient(addr) as c:
            while not done.is_set():
                t = time.perf_counter()
                status, _ = c.request("GET", path)
                out.append((time.perf_counter() - t) * 1000)
                assert status == 200, status
                time.sleep(0.002)

    probes = [threading.Thread(target=probe, args=("/healthz", health)),
              threading.Thread(target=probe, args=("/v1/allocations?app=probe", listing))]
    for p in probes:
        p.start()
    time.sleep(0.2)
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", BULK_CLIENT, addr, job, str(count)],
                         capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t
    done.set()
    for p in probes:
        p.join()
    if out.returncode:
        raise RuntimeError(f"{job} failed: {out.stderr.strip().splitlines()[-1:]}")
    return sorted(health), sorted(listing), seconds


def bench_c() -> list[list[object]]:
    rows: list[list[object]] = []
    for job, count in (("import", 10_000), ("sync", 1_000)):
        with running_server() as (addr, _):
            health, listing, seconds = latencies_during(addr, job, count)
        worst = max(percentile(health, 0.99), percentile(listing, 0.99))
        rows.append([f"(c) p99 during a {count:,}-entry {job} ({seconds:.1f} s)",
                     f"/healthz {percentile(health, 0.99):.1f} ms,"
                     f" list {percentile(listing, 0.99):.1f} ms ({len(health) + len(listing)}"
                     " samples)", f"{worst:.1f} ms", "<= 20 ms", "yes" if worst <= 20 else "NO"])
    return rows


def bench_d() -> list[object]:
    from pg_cluster import PgCluster

    cluster = PgCluster.start({"fsync": "on", "full_page_writes": "on",
                               "synchronous_commit": "on"})
    rates: dict[str, list[float]] = {"1": [], "": []}
    batches = ""
    try:
        with ExitStack() as stack:
            pairs = {}
            for batch in rates:  # one commit per allocation, and group commit: both running
                url = cluster.new_database("bench")
                extra = {"PORT_SERVER_WRITE_BATCH": batch} if batch else {}
                pairs[batch] = [stack.enter_context(running_server(
                    "--store", url, "--host-id", host, env_extra=extra))[0]
                    for host in ("east", "west")]
            for r in range(3):  # alternating rounds: both see the same machine load
                for batch, addrs in pairs.items():
                    rates[batch].append(run_clients(addrs, f"pg{batch}{r}", 8,
                                                    PER_CLIENT // 2)[0])
            batches = writer_stats(pairs[""][0])
    finally:
        cluster.stop()
    group, single = statistics.median(rates[""]), statistics.median(rates["1"])
    ratio = group / single
    return [f"(d) PostgreSQL 2 servers x 8 clients, group / one commit each ({batches})",
            f"{group:,.0f} / {single:,.0f} per s", f"{ratio:.2f}x", ">= 2x",
            "yes" if ratio >= 2 else "NO"]


def main(argv: list[str]) -> int:
    """``bench_writer.py [a b c d]``: the figures named (all four by default)."""
    parts = set(argv) or {"a", "b", "c", "d"}
    load = os.getloadavg()[0]
    rows: list[list[object]] = []
    if "a" in parts:
        rows.append(bench_a())
    if "b" in parts:
        rows.append(bench_b(SHM, "data dir in memory"))
        rows.append(bench_b(None, f"data dir on disk (fsync {fsync_ms(tempfile_dir()):.2f} ms)"))
    if "c" in parts:
        rows += bench_c()
    if "d" in parts:
        try:
            rows.append(bench_d())
        except Exception as exc:  # no PostgreSQL binaries here: say so, keep the other figures
            rows.append(["(d) PostgreSQL", f"not run: {exc}", "", "", ""])
    table(["figure", "measured", "ratio", "target", "ok"], rows)
    print(json.dumps({"cores": os.cpu_count(), "load_before": round(load, 2),
                      "load_after": round(os.getloadavg()[0], 2)}))
    return 0


def tempfile_dir() -> str:
    import tempfile

    return tempfile.gettempdir()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
