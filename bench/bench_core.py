"""Core figures: (a) portctl start-to-finish, (b) server allocations/s, (c) auto-assign at 50,000.

Targets (issue "Core"): (a) <= 5x a bare interpreter start; (b) >= 1,000 allocations/s on one
connection; (c) auto-assign with 50,000 allocations <= 1.5x the empty registry.
"""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import BIN, median_ms, running_server, table
from port_server.client import RegistryClient
from port_server.models import AllocationRequest

RUNS_CLI = 30
N_THROUGHPUT = 2000


def bench_cli(addr: str, env: dict[str, str]) -> tuple[float, float]:
    bare = median_ms(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), RUNS_CLI)
    counter = iter(range(10**9))

    def allocate() -> None:
        subprocess.run([str(BIN / "portctl"), "allocate", "--app", "bench", "--instance", "cli",
                        "--service", f"s{next(counter)}"], env=env, check=True,
                       stdout=subprocess.DEVNULL)

    return bare, median_ms(allocate, RUNS_CLI)


def bench_throughput(addr: str) -> tuple[float, float, float]:
    with RegistryClient(addr) as client:
        t = time.perf_counter()
        for i in range(N_THROUGHPUT):
            client.allocate(AllocationRequest(app="tp", instance="keep", service=f"s{i}"))
        keep = N_THROUGHPUT / (time.perf_counter() - t)
    t = time.perf_counter()
    for i in range(N_THROUGHPUT):
        with RegistryClient(addr) as client:
            client.allocate(AllocationRequest(app="tp", instance="new", service=f"s{i}"))
    fresh = N_THROUGHPUT / (time.perf_counter() - t)
    code = ("import sys\nfrom port_server.client import RegistryClient\n"
            "from port_server.models import AllocationRequest\n"
            "c = RegistryClient(sys.argv[1])\n"
            "for i in range(int(sys.argv[3])):\n"
            "    c.allocate(AllocationRequest(app='tp', instance=sys.argv[2], service=f's{i}'))\n")
    per = N_THROUGHPUT // 8
    t = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", code, addr, f"c{k}", str(per)])
             for k in range(8)]
    for p in procs:
        p.wait()
    concurrent = per * 8 / (time.perf_counter() - t)
    return keep, fresh, concurrent


def fill_registry(svc: object, store: object, total: int) -> None:
    """Explicit ports spread over 1024-65535, then the default pool filled from its low end until
    only its last few hundred ports are free; ``total`` rows in all."""
    from port_server.settings import DEFAULT_POOLS

    lo, hi = DEFAULT_POOLS["default"]
    keep_free = 300
    rng = random.Random(42)
    pool_size = hi - lo + 1
    explicit_n = int((total - pool_size + keep_free) / (1 - pool_size / (65535 - 1024 + 1)))
    explicit = set(rng.sample(range(1024, 65536), explicit_n))
    in_pool = sum(1 for p in explicit if lo <= p <= hi)
    fill = [p for p in range(lo, hi + 1) if p not in explicit][: pool_size - keep_free - in_pool]
    ports = sorted(explicit | set(fill))[:total]
    now = "2026-01-01T00:00:00.000000Z"
    with store.write() as tx:  # type: ignore[attr-defined]
        for i, port in enumerate(ports):
            tx.conn.execute(
                "INSERT INTO allocations (app, instance, service, port, created_at, host,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                ("filler", "x", f"s{i}", port, now, svc.host, now))  # type: ignore[attr-defined]


def bench_autoassign(rows: int, runs: int = 200) -> float:
    from port_server.service import RegistryService
    from port_server.settings import load_settings
    from port_server.store.sqlite import SQLiteStore

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(env={"PORT_SERVER_HOME": tmp, "HOME": tmp},
                                 config_path=Path(tmp) / "none.toml")
        store = SQLiteStore(Path(tmp) / "r.db")
        svc = RegistryService(store, settings)
        if rows:
            fill_registry(svc, store, rows)
        svc.allocate(AllocationRequest(app="warm", instance="x", service="up"))
        counter = iter(range(10**9))
        ms = median_ms(lambda: svc.allocate(AllocationRequest(
            app="bench", instance="x", service=f"s{next(counter)}")), runs)
        store.close()
        return ms


def main() -> int:
    with running_server() as (addr, env):
        bare, cli = bench_cli(addr, env)
        keep, fresh, concurrent = bench_throughput(addr)
    empty = bench_autoassign(0)
    full = bench_autoassign(50_000)
    table(["figure", "value", "target", "ok"], [
        ["(a) python -c pass, median ms", f"{bare:.1f}", "", ""],
        ["(a) portctl allocate, median ms", f"{cli:.1f}", f"<= {5 * bare:.1f} (5x)",
         "yes" if cli <= 5 * bare else "NO"],
        ["(b) allocations/s, one connection", f"{keep:.0f}", ">= 1000",
         "yes" if keep >= 1000 else "NO"],
        ["(b) allocations/s, new connection each", f"{fresh:.0f}", "", ""],
        ["(b) allocations/s, 8 concurrent clients", f"{concurrent:.0f}", "", ""],
        ["(c) auto-assign, empty registry, median ms", f"{empty:.3f}", "", ""],
        ["(c) auto-assign, 50,000 allocations, median ms", f"{full:.3f}",
         f"<= {1.5 * empty:.3f} (1.5x)", "yes" if full <= 1.5 * empty else "NO"],
    ])
    if "--peers" in sys.argv:
        from bench_peers import bench_port_authority

        bench_port_authority(cli, fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
