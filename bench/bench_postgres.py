"""PostgreSQL figures: allocations/s through one server on PostgreSQL next to SQLite, and with two
servers sharing one database (the same host id, and two host ids).

A throwaway PostgreSQL cluster (initdb + pg_ctl, as in the tests) with durable settings (fsync and
synchronous_commit on), like SQLite's synchronous=FULL. Clients are separate processes, each on one
kept-alive connection; the figure is allocations acknowledged per second of wall time.
"""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from common import run_clients, running_server, table
from pg_cluster import PgCluster

CLIENTS = 8
PER_CLIENT = int(os.environ.get("BENCH_PG_PER_CLIENT", "150"))


def scenario(label: str, server_args: list[list[str]], tag: str) -> list[object]:
    with ExitStack() as stack:
        addrs = [stack.enter_context(running_server(*args))[0] for args in server_args]
        rate, p50, p99 = run_clients(addrs, tag, CLIENTS, PER_CLIENT)
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
