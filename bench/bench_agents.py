"""Agent-facing paths, end to end against a real port-server: what an agent or a shell waits for.

- `portctl run -- true`: allocate, record the child, clear it, exit (the overhead around a command).
- `portctl __complete names`: what each <TAB> on --app costs (server up, and server down).
- MCP: one `allocate` + `list_allocations` round trip through `portctl mcp` with the SDK's own
  stdio client, after the session is up; and the session start (process + SDK import + handshake).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import BIN, median_ms, running_server, table


def portctl(env: dict[str, str], *args: str) -> None:
    subprocess.run([str(BIN / "portctl"), *args], env=env, check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def mcp_figures(env: dict[str, str], calls: int) -> tuple[float, float]:
    """(session start ms, median ms per allocate+list pair)."""
    import anyio
    from mcp import ClientSession, StdioServerParameters, stdio_client

    out: list[float] = []

    async def session() -> None:
        params = StdioServerParameters(command=str(BIN / "portctl"), args=["mcp"], env=env)
        start = time.perf_counter()
        async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
            await s.initialize()
            out.append((time.perf_counter() - start) * 1000)
            samples = []
            for i in range(calls):
                t = time.perf_counter()
                await s.call_tool("allocate", {"app": "bench", "instance": "mcp",
                                               "service": f"s{i}"})
                await s.call_tool("list_allocations", {"app": "bench"})
                samples.append((time.perf_counter() - t) * 1000)
            samples.sort()
            out.append(samples[len(samples) // 2])

    anyio.run(session)
    return out[0], out[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=15)
    args, _ = ap.parse_known_args()  # run_all passes options meant for other scripts
    rows: list[tuple[str, str]] = []
    with running_server() as (_addr, env):
        portctl(env, "allocate", "--app", "bench", "--instance", "dev", "--service", "web")
        down = {**env, "PORT_SERVER_ADDR": "127.0.0.1:1"}
        cases = [
            ("portctl run -- true", env, ["run", "--app", "bench", "--instance", "dev",
                                          "--service", "web", "--", "true"]),
            ("portctl run --ephemeral -- true", env, ["run", "--app", "bench", "--instance",
                                                      "dev", "--service", "tmp", "--ephemeral",
                                                      "--", "true"]),
            ("__complete names --field app", env, ["__complete", "names", "--field", "app"]),
            ("__complete names (server down)", down, ["__complete", "names", "--field", "app"]),
        ]
        for name, environ, argv in cases:
            ms = median_ms(lambda e=environ, a=argv: portctl(e, *a), args.runs)
            rows.append((name, f"{ms:.1f} ms"))
        bare = median_ms(lambda: subprocess.run([sys.executable, "-c", "pass"], check=False),
                         args.runs)
        rows.append(("(bare python start)", f"{bare:.1f} ms"))
        start_ms, call_ms = mcp_figures(env, args.runs)
        rows.append(("MCP session start (spawn + handshake)", f"{start_ms:.0f} ms"))
        rows.append(("MCP allocate + list_allocations", f"{call_ms:.1f} ms"))
    load = os.getloadavg()[0]
    table(("path", "median"), rows)
    print(f"(load average {load:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
