"""portman figures on a real port-server: importing a registry of N allocations in one call (a dry
run, the first apply, a re-import where all match), then exporting the whole registry as JSON and
as CSV through the portctl executable, and `portman list` (a new process each time)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import BIN, running_server, table
from port_server.client import RegistryClient
from port_server.models import Allocation

SIZES = (100, 1000, 5000)


def entries(n: int, first_port: int, app: str) -> list[Allocation]:
    return [Allocation(id=0, app=app, instance=f"i{i % 10}", service=f"svc-{i}",
                       port=first_port + i, created_at="", type="dynamic", owner="bench",
                       environment="production", status="active",
                       url=f"https://svc-{i}.example.com", note="imported by bench_portman")
            for i in range(n)]


def ms(t: float) -> str:
    return f"{(time.perf_counter() - t) * 1000:.0f}"


def run_ms(argv: list[str], env: dict[str, str]) -> tuple[str, int]:
    t = time.perf_counter()
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    return ms(t), len(out)


def main() -> None:
    rows = []
    with running_server() as (addr, env):
        first = 10000
        total = 0
        for n in SIZES:
            batch = entries(n, first, f"bench{n}")
            first += n
            with RegistryClient(addr, timeout=300) as client:
                t = time.perf_counter()
                client.import_allocations(batch, dry_run=True)
                dry = ms(t)
                t = time.perf_counter()
                report = client.import_allocations(batch)
                apply = ms(t)
                assert len(report.added) == n
                t = time.perf_counter()
                again = client.import_allocations(batch)
                reimport = ms(t)
                assert len(again.matched) == n
            total += n
            export_json, size = run_ms([str(BIN / "portctl"), "export"], env)
            assert len(json.loads(subprocess.run([str(BIN / "portctl"), "export"], env=env,
                                                 capture_output=True, text=True).stdout
                                  )["allocations"]) == total
            export_csv, _ = run_ms([str(BIN / "portctl"), "export", "--format", "csv"], env)
            portman_list, _ = run_ms([str(BIN / "portman"), "list"], env)
            rows.append((n, total, dry, apply, reimport, export_json, f"{size // 1024}",
                         export_csv, portman_list))
    table(("import N", "registry", "dry run ms", "apply ms", "re-import ms",
           "export json ms", "json KiB", "export csv ms", "portman list ms"), rows)


if __name__ == "__main__":
    main()
