"""PostgreSQL figures: allocations/s through one server on PostgreSQL next to SQLite, and with two
servers sharing one database (the same host id, and two host ids).

A throwaway PostgreSQL cluster (initdb + pg_ctl, as in the tests) with durable settings (fsync and
synchronous_commit on), like SQLite's synchronous=FULL. Clients are separate processes, each on one
kept-alive connection; the figure is allocations acknowledged per second of wall time.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from common import running_server, table
from pg_cluster import PgCluster

CLIENTS = 8
PER_CLIENT = int(os.environ.get("BENCH_PG_PER_CLIENT", "150"))

#: One client process: allocate N services on one connection, print each latency in ms.
CLIENT = """
import sys, time
from port_server.client import RegistryClient
from port_server.models import AllocationRequest
c = RegistryClient(sys.argv[1])
out = []
for i in range(int(sys.argv[3])):
    t = time.perf_counter()
    c.allocate(AllocationRequest(app='bench', instance=sys.argv[2], service=f's{i}'))
    out.append((time.perf_counter() - t) * 1000)
print(' '.join(f'{x:.3f}' for x in out))
"""


def run_clients(addrs: list[str], tag: str) -> tuple[float, float, float]:
    """CLIENTS processes spread over ``addrs``: (allocations/s, p50 ms, p99 ms)."""
    t = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", CLIENT, addrs[k % len(addrs)],
                               f"{tag}{k}", str(PER_CLIENT)], stdout=subprocess.PIPE, text=True)
             for k in range(CLIENTS)]
    outs = [p.communicate()[0] for p in procs]
    wall = time.perf_counter() - t
    if any(p.returncode for p in procs):
        raise RuntimeError(f"a client failed in {tag}")
    lat = sorted(float(x) for out in outs for x in out.split())
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    return len(lat) / wall, statistics.median(lat), p99


def scenario(label: str, server_args: list[list[str]], tag: str) -> list[object]:
    with ExitStack() as stack:
        addrs = [stack.enter_context(running_server(*args))[0] for args in server_args]
        rate, p50, p99 = run_clients(addrs, tag)
    return [label, len(server_args), CLIENTS, CLIENTS * PER_CLIENT, f"{rate:,.0f}",
            f"{p50:.2f}", f"{p99:.2f}"]


def main() -> int:
    cluster = PgCluster.start({"fsync": "on", "full_page_writes": "on",
                               "synchronous_commit": "on"})
    try:
        rows = [scenario("SQLite, one server", [[]], "sq")]
        url = cluster.new_database("bench")
        rows.append(scenario("PostgreSQL, one server", [["--store", url]], "pg1"))
        url = cluster.new_database("bench")
        rows.append(scenario("PostgreSQL, 2 servers, same host id",
                             [["--store", url, "--host-id", "same"]] * 2, "pg2"))
        url = cluster.new_database("bench")
        rows.append(scenario("PostgreSQL, 2 servers, 2 host ids",
                             [["--store", url, "--host-id", "east"],
                              ["--store", url, "--host-id", "west"]], "pg3"))
    finally:
        cluster.stop()
    table(["store", "servers", "clients", "allocations", "allocations/s", "p50 ms", "p99 ms"],
          rows)
    print(f"({os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
