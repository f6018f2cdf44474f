"""The audit trail, recorded centrally: every write transaction the service opens is audited.

``RegistryService`` wraps its store in ``AuditedStore``. Inside ``write()`` each ``insert``,
``insert_allocation``, ``update`` and ``delete`` appends an ``audit_log`` row in the *same*
transaction (so a mutation and its record commit or roll back together), with the allocation
before and after. Who did it and why come from the context (``acting``), so a new service
method is audited without doing anything; it only names its action and actor when the default
("allocate", "import", "update", "release"; the request's caller) is not right:

    with acting("dokploy-sync", action="sync"):
        with self.store.write() as tx:
            ...

The HTTP layer sets the caller of each request (``set_caller``) as a lazy resolver: the kernel
lookup runs only when something needs it, and off the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from port_server.errors import StoreUnavailable
from port_server.models import Actor, Allocation, AllocationFilter, AllocationRequest, AuditEntry
from port_server.store.base import Store, StoreTx

#: The actor used when nobody set one: an in-process call (tests, embedding code).
LOCAL = Actor.system("local")


@dataclass(frozen=True)
class _Acting:
    actor: Actor | Callable[[], Actor] | None = None
    action: str | None = None
    reason: str = ""


_NOBODY = _Acting()
_ACTING: ContextVar[_Acting | None] = ContextVar("port_server_acting", default=None)


def _acting_now() -> _Acting:
    return _ACTING.get() or _NOBODY


def current_actor() -> Actor:
    """The actor of the current context (resolving a lazy caller once), else ``LOCAL``."""
    acting = _acting_now()
    who = acting.actor
    if who is None:
        return LOCAL
    if callable(who):
        who = who()
        _ACTING.set(_Acting(who, acting.action, acting.reason))
    return who


def set_caller(resolve: Callable[[], Actor]) -> Any:
    """Set the caller for this request's context; returns a token for ``reset_caller``."""
    return _ACTING.set(_Acting(actor=resolve))


def reset_caller(token: Any) -> None:
    _ACTING.reset(token)


@contextmanager
def acting(actor: Actor | str | None = None, action: str | None = None,
           reason: str = "") -> Iterator[Actor]:
    """Run a block as ``actor`` (a name means a trusted system job), naming its audit action."""
    if isinstance(actor, str):
        actor = Actor.system(actor)
    outer = _acting_now()
    who: Actor | Callable[[], Actor] | None = actor if actor is not None else outer.actor
    token = _ACTING.set(_Acting(who, action or outer.action, reason or outer.reason))
    try:
        yield current_actor()
    finally:
        _ACTING.reset(token)


class AuditedTx:
    """A StoreTx whose writes also append audit entries; everything else is the inner tx's."""

    def __init__(self, tx: StoreTx, clock: Callable[[], str]) -> None:
        self._tx = tx
        self._clock = clock
        #: Something was written: the store tells its commit listeners once it commits.
        self.changed = False

    def __getattr__(self, name: str) -> Any:  # backend extras (e.g. insert_allocation helpers)
        return getattr(self._tx, name)

    def record(self, action: str, before: Allocation | None, after: Allocation | None,
               reason: str = "") -> None:
        self.changed = True
        acting = _acting_now()
        actor = current_actor()
        subject = after or before
        self._tx.add_audit(AuditEntry(
            id=0, time=self._clock(), actor=actor.name, actor_uid=actor.uid,
            action=acting.action or action,
            alloc_id=subject.id if subject else None,
            app=subject.app if subject else "", instance=subject.instance if subject else "",
            service=subject.service if subject else "", port=subject.port if subject else None,
            host=subject.host if subject else "",
            before=before.to_dict() if before else None,
            after=after.to_dict() if after else None,
            reason=reason or acting.reason))

    # -- reads: the inner tx's -------------------------------------------------------------

    def lock_host(self, host: str) -> None:
        self._tx.lock_host(host)

    def savepoint(self) -> AbstractContextManager[None]:
        return self._tx.savepoint()

    def get(self, alloc_id: int) -> Allocation | None:
        return self._tx.get(alloc_id)

    def find_key(self, host: str, app: str, instance: str, service: str) -> Allocation | None:
        return self._tx.find_key(host, app, instance, service)

    def find_key_and_releases(self, host: str, app: str, instance: str, service: str
                              ) -> tuple[Allocation | None, int]:
        return self._tx.find_key_and_releases(host, app, instance, service)

    def find_port(self, host: str, port: int) -> list[Allocation]:
        return self._tx.find_port(host, port)

    def next_unregistered(self, host: str, start: int, stop: int) -> int | None:
        return self._tx.next_unregistered(host, start, stop)

    def ports_in_range(self, host: str, lo: int, hi: int) -> list[int]:
        return self._tx.ports_in_range(host, lo, hi)

    def select(self, flt: AllocationFilter, limit: int | None = None) -> list[Allocation]:
        return self._tx.select(flt, limit)

    def leased(self, host: str) -> list[Allocation]:
        return self._tx.leased(host)

    # -- writes: recorded ------------------------------------------------------------------

    def insert(self, host: str, req: AllocationRequest, port: int, now: str) -> Allocation:
        alloc = self._tx.insert(host, req, port, now)
        self.record("allocate", None, alloc)
        return alloc

    def insert_allocation(self, alloc: Allocation) -> Allocation:
        inserted: Allocation = self._tx.insert_allocation(alloc)  # type: ignore[attr-defined]
        self.record("import", None, inserted)
        return inserted

    def update(self, alloc_id: int, changes: dict[str, Any]) -> Allocation:
        before = self._tx.get(alloc_id)
        after = self._tx.update(alloc_id, changes)
        self.record("update", before, after)
        return after

    def delete(self, ids: Sequence[int]) -> int:
        befores = [a for a in (self._tx.get(i) for i in ids) if a is not None]
        count = self._tx.delete(ids)
        for before in befores:
            self.record("release", before, None)
        return count


class AuditedStore:
    """A Store whose ``write()`` transactions are audited; the rest is the inner store's."""

    def __init__(self, inner: Store, clock: Callable[[], str],
                 on_commit: Callable[[], None] | None = None) -> None:
        self.inner = inner
        self._clock = clock
        self.store_errors = inner.store_errors
        #: Called after each committed transaction that changed allocations (the proxy's
        #: route push); never inside the transaction, never after a rollback. With group
        #: commit, once per batch.
        self.on_commit = on_commit

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @contextmanager
    def write(self) -> Iterator[AuditedTx]:
        with self.inner.write() as tx:
            audited = AuditedTx(tx, self._clock)
            yield audited
        if audited.changed and self.on_commit is not None:
            self.on_commit()

    def read(self) -> AbstractContextManager[StoreTx]:
        return self.inner.read()

    def applied_migrations(self) -> list[str]:
        return self.inner.applied_migrations()

    def check(self) -> None:
        self.inner.check()

    def fault(self, exc: BaseException) -> StoreUnavailable:
        return self.inner.fault(exc)

    def close(self) -> None:
        self.inner.close()
