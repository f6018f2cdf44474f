"""down and prune: give back what ``up`` took, and what removed worktrees left behind.

``down`` releases one project checkout's allocations (its app/instance). ``prune`` releases every
allocation whose recorded worktree is gone (``worktrees.stale``; checked here, in the caller's
process, which can see the caller's folders). ``--orphans`` adds the processes the live scan
marks ``orphan``; only with ``--kill`` are they stopped (TERM, then KILL after a timeout), and
only the caller's own processes, never a container's proxy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from port_server.errors import PortServerError

if TYPE_CHECKING:
    from port_server.client import RegistryClient
    from port_server.models import Allocation, ScanRow

#: Listener processes that belong to the container engine, never stopped by prune.
ENGINE_PROCESSES = ("docker-proxy", "dockerd", "rootlesskit", "containerd", "podman",
                    "conmon", "slirp4netns", "pasta")


@dataclass
class PruneOutcome:
    """What prune did (or would do): released allocations, refusals, stopped processes."""

    released: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    orphans: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"released": self.released, "failed": self.failed, "orphans": self.orphans}


def down(client: RegistryClient, app: str, instance: str, dry_run: bool = False
         ) -> list[Allocation]:
    """Release every allocation of app/instance (the reverse of ``up``)."""
    from port_server.models import AllocationFilter

    flt = AllocationFilter(app=app, instance=instance)
    if dry_run:
        return list(client.list(flt))
    return client.release(flt)


def release_stale(client: RegistryClient, outcome: PruneOutcome, dry_run: bool) -> None:
    from port_server.worktrees import stale

    for alloc, reason in stale(client.list()):
        item = {"id": alloc.id, "key": alloc.key, "port": alloc.port, "path": alloc.path,
                "reason": reason}
        if dry_run:
            outcome.released.append(item)
            continue
        try:
            client.release_id(alloc.id)
            outcome.released.append(item)
        except PortServerError as exc:  # another user's, protected...: say so, go on
            outcome.failed.append({**item, "error": exc.message})


def _own_process(pid: int, cmdline: str) -> Any:
    """The psutil Process ``pid`` when it runs as the caller and is still the scanned one."""
    import os

    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.uids().real != os.getuid():
            return None
        if cmdline and not " ".join(proc.cmdline()).startswith(cmdline):
            return None  # the pid was reused since the scan
        return proc
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def _ended(proc: Any, timeout: float) -> bool:
    """Has ``proc`` exited within ``timeout`` seconds? A zombie has: its parent (often init,
    for an orphan) reaps it when it will."""
    import time

    import psutil

    deadline = time.monotonic() + timeout
    while True:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def stop(proc: Any, timeout: float) -> str:
    """TERM, wait up to ``timeout`` seconds, then KILL: how it ended."""
    import psutil

    try:
        proc.terminate()
        if _ended(proc, timeout):
            return "stopped (TERM)"
        proc.kill()
        return f"killed (KILL after {timeout:g}s)" if _ended(proc, timeout) \
            else "still running after KILL"
    except psutil.NoSuchProcess:
        return "already gone"


def orphans(rows: list[ScanRow], outcome: PruneOutcome, kill: bool, timeout: float) -> None:
    """Record each orphan listener; with ``kill``, stop the caller's own ones."""
    done: set[int] = set()
    for row in rows:
        if row.state != "orphan":
            continue
        for lst in row.listeners:
            item = {"port": row.port, "protocol": row.protocol, "pid": lst.pid,
                    "name": lst.name, "cmdline": lst.cmdline, "reason": row.reason}
            if lst.pid in done:
                continue
            proc = None
            if lst.pid is not None and lst.container is None \
                    and lst.name not in ENGINE_PROCESSES:
                proc = _own_process(lst.pid, lst.cmdline)
                done.add(lst.pid)
            if proc is None:
                item["action"] = "left alone (not a process of yours)"
            else:
                item["action"] = stop(proc, timeout) if kill else "would stop (add --kill)"
            outcome.orphans.append(item)
