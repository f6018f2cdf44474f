"""Dokploy sync figures: reading N services from a (fake, loopback) Dokploy that answers after
20 ms like one across a network, one request at a time and 8 at a time; then the one-call sync on
a real port-server: a dry run, the first apply (all adds) and a re-sync (all unchanged)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from common import running_server, table
from fake_dokploy import API_KEY, FakeDokploy, _app
from port_server.client import RegistryClient
from port_server.integrations import dokploy
from port_server.integrations.dokploy import fetch_snapshot
from port_server.integrations.dokploy_client import DokployClient
from port_server.integrations.dokploy_map import desired_allocations

SIZES = (10, 100, 300)
LATENCY = 0.02


def fake_with(n: int) -> FakeDokploy:
    fake = FakeDokploy("slim")
    apps = [_app(f"app-{i}", f"svc-{i}", [(20000 + i, 3000, "tcp")], []) for i in range(n)]
    fake.projects = [{"projectId": "p", "name": "bench", "description": "", "env": "",
                      "createdAt": "", "environments": [
                          {"environmentId": "e", "name": "production", "isDefault": True,
                           "services": {"application": apps}}]}]
    fake.latency = LATENCY
    return fake.start()


def ms(t: float) -> str:
    return f"{(time.perf_counter() - t) * 1000:.0f}"


def main() -> None:
    rows = []
    with running_server() as (addr, _env):
        for n in SIZES:
            fake = fake_with(n)
            try:
                reads = []
                for concurrency in (1, 8):
                    dokploy.CONCURRENCY = concurrency
                    t = time.perf_counter()
                    snapshot = fetch_snapshot(DokployClient(fake.url, API_KEY))
                    reads.append(ms(t))
            finally:
                fake.stop()
            desired = desired_allocations(snapshot)
            with RegistryClient(addr) as client:
                t = time.perf_counter()
                client.sync_dokploy(desired, dry_run=True)
                dry = ms(t)
                t = time.perf_counter()
                first = client.sync_dokploy(desired)
                apply = ms(t)
                t = time.perf_counter()
                again = client.sync_dokploy(desired)
                resync = ms(t)
                assert first["summary"]["add"] >= n and again["summary"]["unchanged"] >= n
                client.sync_dokploy([])  # remove them all for the next size
            rows.append((n, len(desired), *reads, dry, apply, resync))
    table(("services", "allocations", "read 1-at-a-time ms", "read 8-at-a-time ms",
           "dry run ms", "apply ms", "re-sync ms"), rows)


if __name__ == "__main__":
    main()
