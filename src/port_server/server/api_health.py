"""``/livez`` (the process answers) and ``/healthz`` (ready: the store is writable and intact).

The readiness check asks the store (``Store.check``: the file is the one opened, writable, with
room, and passes SQLite's quick_check; PostgreSQL answers) at most every ``INTERVAL`` seconds, in a
worker thread; between checks ``/healthz`` answers from the cached result on the event loop, so
a busy writer or a slow disk never delays it. A failed write batch makes the cached result
stale, so the next ``/healthz`` looks again at once.
"""

from __future__ import annotations

import threading
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from port_server import __version__
from port_server.errors import StoreUnavailable
from port_server.server import schemas
from port_server.service.writer import Writer
from port_server.store.base import Store

router = APIRouter()

#: Seconds a readiness result is trusted.
INTERVAL = 3.0
#: How long a request waits for a check another request started.
CHECK_WAIT = 5.0


class Readiness:
    """The store's last check result, refreshed at most every ``interval`` seconds."""

    def __init__(self, store: Store, writer: Writer | None = None,
                 interval: float = INTERVAL) -> None:
        self.store = store
        self.writer = writer
        self.interval = interval
        self._faults_seen = 0
        self._checked = float("-inf")
        self._fault: StoreUnavailable | None = None
        self._lock = threading.Lock()

    def stale(self) -> bool:
        if self.writer is not None and self.writer.stats.faults != self._faults_seen:
            return True  # a write batch failed since the last check: look again now
        return time.monotonic() - self._checked >= self.interval

    def refresh(self) -> StoreUnavailable | None:
        """Check now (blocking: call from a worker thread); one check at a time."""
        if not self._lock.acquire(blocking=False):
            # A check is running: wait for its answer (never answer "ok" before any check).
            if not self._lock.acquire(timeout=CHECK_WAIT):
                return self._fault or StoreUnavailable(
                    f"the store check did not finish within {CHECK_WAIT:g}s; retry shortly",
                    cause="slow")
            self._lock.release()
            return self._fault
        try:
            if self.writer is not None:
                self._faults_seen = self.writer.stats.faults
            try:
                self.store.check()
                self._fault = None
            except StoreUnavailable as exc:
                self._fault = exc
            except Exception as exc:  # any failure of the check means "not ready"
                self._fault = self.store.fault(exc)
            self._checked = time.monotonic()
            return self._fault
        finally:
            self._lock.release()

    async def fault(self) -> StoreUnavailable | None:
        if self.stale():
            return await run_in_threadpool(self.refresh)
        return self._fault


def readiness_of(request: Request) -> Readiness:
    ready: Readiness = request.app.state.readiness
    return ready


@router.get("/healthz", response_model=schemas.HealthOut, tags=["health"],
            responses={503: {"model": schemas.ErrorOut,
                             "description": "not ready: the store cannot take writes; `cause`"
                                            " names why (disk_full, read_only, corrupt, removed,"
                                            " unreachable)"}})
async def healthz(request: Request) -> JSONResponse:
    fault = await readiness_of(request).fault()
    if fault is not None:
        raise fault
    return JSONResponse({"status": "ok", "version": __version__})


@router.get("/livez", tags=["health"])
async def livez() -> JSONResponse:
    """The process is up and its event loop answers; says nothing about the store."""
    return JSONResponse({"status": "alive", "version": __version__})
