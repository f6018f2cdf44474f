"""`make bench PEERS=1`: the nearest peer, Port Authority (`pip install portauth`), side by side.

Installs portauth into a throwaway virtualenv, runs its daemon on 127.0.0.1:8888 with a temp HOME,
and measures (a) its CLI (`port-request request`) as a new process each time and (b) its
allocations per second with a new connection per request. Our own figures come from bench_core.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import median_ms, table

RUNS_CLI = 30
N_THROUGHPUT = 1000


def _wait_port(port: int, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def bench_port_authority(our_cli_ms: float, our_fresh_per_s: float) -> None:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 8888)) == 0:
            print("port 8888 is busy; Port Authority needs it: skipped the peer comparison")
            return
    with tempfile.TemporaryDirectory(prefix="portauth-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin/pip"), "install", "--quiet", "portauth"], check=True)
        env = {**os.environ, "HOME": tmp}
        daemon = subprocess.Popen([str(venv / "bin/port-authority-daemon")], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_port(8888)
            token = (Path(tmp) / ".config/port-authority/token").read_text().strip()
            counter = iter(range(10**9))

            def cli() -> None:
                subprocess.run([str(venv / "bin/port-request"), "request", "bench",
                                f"c{next(counter)}", "--pool", "web"], env=env, check=True,
                               stdout=subprocess.DEVNULL)

            their_cli = median_ms(cli, RUNS_CLI)
            t = time.perf_counter()
            for i in range(N_THROUGHPUT):
                conn = http.client.HTTPConnection("127.0.0.1", 8888)
                conn.request("GET", f"/request?project=tp&service=s{i}&pool=web",
                             headers={"Authorization": f"Bearer {token}"})
                conn.getresponse().read()
                conn.close()
            their_fresh = N_THROUGHPUT / (time.perf_counter() - t)
        finally:
            daemon.terminate()
            daemon.wait(10)
    table(["figure", "port-server", "Port Authority", "ratio", "target"], [
        ["(a) CLI allocate, median ms", f"{our_cli_ms:.1f}", f"{their_cli:.1f}",
         f"{our_cli_ms / their_cli:.2f}x", "<= 0.5x"],
        ["(b) allocations/s, new connection each", f"{our_fresh_per_s:.0f}",
         f"{their_fresh:.0f}", f"{our_fresh_per_s / their_fresh:.2f}x", ">= 3x"],
    ])
