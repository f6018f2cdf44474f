"""HintCache: where auto-assign starts looking in each pool.

Per pool it keeps a port below which every port of the pool is registered or excluded by policy.
It is only ever a lower bound, so it can be stale but never wrong: a search that starts at the
hint and finds nothing starts again at the bottom of the pool.

Another server sharing the store may release ports below a hint; the caller passes the host's
release count on each lookup, and a changed count drops every hint, so a freed low port is handed
out again, as with a single server.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from port_server.models import Pool


class HintCache:
    def __init__(self) -> None:
        self._hints: dict[str, int] = {}
        self._lock = threading.Lock()
        #: The host's release count when the hints were last trusted.
        self._releases_seen: int | None = None

    def start(self, pool: Pool, releases: int) -> int:
        """Where to start searching ``pool``, given the host's current release count."""
        with self._lock:
            if releases != self._releases_seen:  # someone (maybe us) released: start afresh
                self._hints.clear()
                self._releases_seen = releases
            return self._hints.get(pool.name, pool.lo)

    def record(self, pool: Pool, port: int, first_free: int) -> None:
        """``port`` was just handed out; ``first_free`` is the first unregistered, non-skipped
        port the search met. Ports below it are all taken; it stays the hint when the OS had it
        bound (it may be free next time)."""
        with self._lock:
            self._hints[pool.name] = port + 1 if first_free == port else first_free

    def forget(self, pools: Iterable[Pool], ports: Iterable[int]) -> None:
        """``ports`` were released: lower the hint of each pool holding one of them."""
        ports = list(ports)
        with self._lock:
            for pool in pools:
                for port in ports:
                    if port in pool and port < self._hints.get(pool.name, pool.lo):
                        self._hints[pool.name] = port

    def reset(self) -> None:
        """Forget every hint (a write batch failed: hints it moved may point past free ports)."""
        with self._lock:
            self._hints.clear()
            self._releases_seen = None

    def get(self, pool: Pool) -> int:
        """The current hint of ``pool`` (its lowest port when none is known)."""
        with self._lock:
            return self._hints.get(pool.name, pool.lo)
