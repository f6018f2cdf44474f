"""What the dashboard and a Prometheus scrape cost: median time of each request the page makes
on every refresh, and of GET /metrics, with 0, 200 and 1,000 allocations on a real server."""

from __future__ import annotations

import http.client
from functools import partial

from common import median_ms, running_server, table
from port_server.client import RegistryClient
from port_server.models import AllocationRequest

RUNS = 15
#: What the page asks for on each auto-refresh, then the page itself and a scrape.
PATHS = ["/v1/allocations", "/v1/pools", "/v1/scan?details=true", "/", "/metrics"]


def get(conn: http.client.HTTPConnection, path: str) -> None:
    conn.request("GET", path)
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 200, (path, resp.status)


def main() -> None:
    rows = []
    with running_server() as (addr, _env):
        host, port = addr.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        made = 0
        with RegistryClient(addr) as client:
            for target in (0, 200, 1000):
                while made < target:
                    client.allocate(AllocationRequest(app=f"app{made % 25}", instance="bench",
                                                      service=f"svc{made}"))
                    made += 1
                for path in PATHS:
                    get(conn, path)  # warm up (first scan, first import)
                    ms = median_ms(partial(get, conn, path), RUNS)
                    rows.append((target, path, f"{ms:.1f}"))
        conn.close()
    table(["allocations", "request", "median ms"], rows)


if __name__ == "__main__":
    main()
