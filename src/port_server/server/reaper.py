"""The reaper: a daemon thread that releases ended leases and trims the audit log.

Each pass calls ``service.reap()`` (expired ``ttl`` leases, exited ``pid`` leases; never
protected or lease-less allocations) and logs every reclaimed port; about once an hour it
applies the audit log's retention. With ``[worktrees] auto_prune = true`` it also releases the
allocations of removed worktrees every ``prune_interval``. A failing pass is logged and retried
on the next one.
"""

from __future__ import annotations

import logging
import threading
import time

from port_server.service import RegistryService
from port_server.service.pruning import auto_prune_interval

log = logging.getLogger("port_server.reaper")

PRUNE_EVERY = 3600.0


class Reaper(threading.Thread):
    def __init__(self, service: RegistryService, interval: float) -> None:
        super().__init__(name="port-server-reaper", daemon=True)
        self.service = service
        self.interval = max(0.05, interval)
        self._stop_event = threading.Event()
        self._next_prune = 0.0
        self.worktree_every = auto_prune_interval(service.settings.extra)
        self._next_worktrees = 0.0

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.run_once()

    def run_once(self) -> None:
        try:
            for alloc, reason in self.service.reap():
                log.info("reclaimed port %s (id=%s) for %s: %s", alloc.port, alloc.id,
                         alloc.key, reason)
            if time.monotonic() >= self._next_prune:
                self._next_prune = time.monotonic() + PRUNE_EVERY
                pruned = self.service.prune_audit()
                if pruned:
                    log.info("pruned %d audit log entries beyond the retention", pruned)
            if self.worktree_every is not None and time.monotonic() >= self._next_worktrees:
                self._next_worktrees = time.monotonic() + self.worktree_every
                released, _ = self.service.prune_worktrees(actor="worktree-prune")
                for alloc, reason in released:
                    log.info("released port %s (id=%s) of %s: %s", alloc.port, alloc.id,
                             alloc.key, reason)
        except Exception:  # keep reaping: one bad pass (a busy database) must not end the thread
            log.exception("reaper pass failed; retrying in %.1fs", self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)
