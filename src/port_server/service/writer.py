"""The one writer: every change to the registry runs on one thread, in group commits.

Callers (the event loop, worker threads) submit a function of a write transaction and get a
future; the event loop only awaits it. The writer thread takes what is waiting (at most
``max_batch``), opens one transaction, runs each function in its own savepoint (a domain error
such as "port taken" rolls back that request only), commits once (``synchronous=FULL``: one
fsync for the whole batch) and only then answers each request. A store fault (disk full, data dir
removed, database down) fails the whole batch: nothing of it was applied, and every request in
it gets the same 503 naming the cause. On PostgreSQL the per-host advisory lock is taken once
per batch (the transaction's first ``lock_host``).

Change listeners (``AuditedStore.on_commit``, the service's ``listeners``) run once per batch,
on the writer thread, after the commit and before the requests are answered; they must return
quickly (hand work to another thread), as the answers and the next batch wait for them.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from port_server.errors import StoreUnavailable
from port_server.store.base import Store, StoreTx

log = logging.getLogger("port_server.writer")
T = TypeVar("T")

#: Requests applied in one transaction at most: bounds how long one request waits for others.
MAX_BATCH = 64
#: Requests waiting at most; beyond it a request is refused with 503 (the store cannot keep up).
MAX_QUEUE = 4096
#: An idle writer thread ends after this long; the next request starts a new one.
IDLE_SECONDS = 30.0


class _Refused(Exception):
    """Carries a lone request's own error out of its transaction (rolling it back)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class _Job:
    fn: Callable[[StoreTx], Any]
    ctx: contextvars.Context
    future: Future[Any] = field(default_factory=Future)


@dataclass
class WriterStats:
    batches: int = 0
    requests: int = 0
    largest_batch: int = 0
    faults: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class Writer:
    """The single writer of one store."""

    def __init__(self, store: Store, max_batch: int = MAX_BATCH, max_queue: int = MAX_QUEUE,
                 on_abort: Callable[[], None] | None = None) -> None:
        self.store = store
        self.max_batch = max_batch
        self.stats = WriterStats()
        #: The fault of the last batch, None once one commits again.
        self.last_fault: StoreUnavailable | None = None
        self._on_abort = on_abort
        # SimpleQueue (C, no Condition): put/get are the two thread hops of every write.
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._max_queue = max_queue
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._fatal = (StoreUnavailable, *getattr(store, "store_errors", ()))

    # -- submitting ------------------------------------------------------------------------

    def submit(self, fn: Callable[[StoreTx], T]) -> Future[T]:
        """Queue ``fn`` (run with the caller's context: actor, audit action) and return its
        future, answered after the commit."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("a write submitted from inside a write would wait for itself")
        job = _Job(fn, contextvars.copy_context())
        with self._lock:
            if self._queue.qsize() >= self._max_queue:
                raise StoreUnavailable("the registry has too many writes waiting; retry"
                                       " shortly", cause="overloaded")
            self._queue.put(job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="port-server-writer",
                                                daemon=True)
                self._thread.start()
        return job.future

    def call(self, fn: Callable[[StoreTx], T]) -> T:
        """Submit and wait (for threads; the event loop awaits ``submit``'s future instead)."""
        return self.submit(fn).result()

    # -- the thread ------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._run_batch(batch)

    def _run_batch(self, batch: list[_Job]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        # A batch of one needs no savepoint (two statements, two round trips on PostgreSQL):
        # its own error rolls back the whole transaction, which holds nothing else.
        alone = len(batch) == 1
        try:
            with self.store.write() as tx:
                for job in batch:
                    try:
                        if alone:
                            outcomes.append((True, job.ctx.run(job.fn, tx)))
                            continue
                        with tx.savepoint():
                            outcomes.append((True, job.ctx.run(job.fn, tx)))
                    except self._fatal:
                        raise  # the transaction itself is in doubt: the whole batch goes
                    except Exception as exc:  # this request's own error: its savepoint went
                        if alone:
                            raise _Refused(exc) from None
                        outcomes.append((False, exc))
        except _Refused as refused:
            batch[0].future.set_exception(refused.error)
            return
        except BaseException as exc:
            fault = self.store.fault(exc) if hasattr(self.store, "fault") else exc
            self.stats.faults += 1
            self.last_fault = fault if isinstance(fault, StoreUnavailable) else None
            log.warning("a batch of %d write(s) was not applied: %s", len(batch), fault)
            if self._on_abort is not None:
                self._on_abort()
            for job in batch:
                job.future.set_exception(fault)
            return
        self.last_fault = None
        self.stats.batches += 1
        self.stats.requests += len(batch)
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
        for job, (ok, value) in zip(batch, outcomes, strict=True):
            if ok:
                job.future.set_result(value)
            else:
                job.future.set_exception(value)
