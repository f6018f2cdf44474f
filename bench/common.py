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
def running_server(*args: str) -> Iterator[tuple[str, dict[str, str]]]:
    """Yield (addr, env) for a fresh port-server with its own temp data dir."""
    from port_server.client import RegistryClient

    with tempfile.TemporaryDirectory(prefix="psbench-") as tmp:
        port = free_port()
        env = {**os.environ, "PORT_SERVER_HOME": tmp, "HOME": tmp,
               "PORT_SERVER_ADDR": f"127.0.0.1:{port}"}
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
