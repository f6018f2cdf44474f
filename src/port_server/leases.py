"""Leases: when does an allocation stop being needed? (policy + the OS facts it needs).

Two kinds, either or both on one allocation:

- a time lease: ``expires_at`` (an ISO time); it ends when that time has passed;
- a process lease: ``pid`` + ``pid_start`` (the process's start time, seconds since the epoch)
  on an allocation made by ``portctl allocate --pid`` (source "manual") or ``portctl run``
  (source "run"); it ends when no process with that pid *and that start time* runs. Comparing
  the start time means a pid the kernel has since handed to another process does not keep the
  lease alive. A pid recorded by other sources (an adopted listener, an import) is information,
  not a lease.

An allocation with neither is never reclaimed; a ``protected`` one never either.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from port_server.models import Allocation

#: Sources whose recorded pid is a lease.
PID_LEASE_SOURCES = frozenset({"manual", "run"})

#: Start times from /proc are in clock ticks (1/100 s); psutil rounds. Allow this much skew.
START_TIME_TOLERANCE = 1.0


def iso_after(now: str, seconds: float) -> str:
    """``now`` (an ISO time as the service's clock writes it) plus ``seconds``, same format."""
    start = datetime.strptime(now, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return (start + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def process_start(pid: int) -> float | None:
    """The start time of process ``pid`` (epoch seconds), or None when it does not run.

    A zombie (exited, not yet waited for by its parent) counts as not running.
    """
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return float(proc.create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, ValueError):
        return None


def process_alive(pid: int, started: float | None) -> bool:
    """Is the process that took the lease still running? ``started`` None: any process ``pid``."""
    current = process_start(pid)
    if current is None:
        return False
    return started is None or abs(current - started) <= START_TIME_TOLERANCE


def lease_end_reason(alloc: Allocation, now: str) -> str | None:
    """Why ``alloc``'s lease has ended ("expired ...", "process ... exited"), or None if it holds.

    Protected allocations and allocations without a lease never end.
    """
    if alloc.protected:
        return None
    if alloc.expires_at is not None and alloc.expires_at <= now:
        return f"lease expired at {alloc.expires_at}"
    if (alloc.pid is not None and alloc.source in PID_LEASE_SOURCES
            and not process_alive(alloc.pid, alloc.pid_start)):
        return f"process {alloc.pid} exited"
    return None
