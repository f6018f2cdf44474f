"""Records of who changes the registry and what the audit log keeps of each change.

Bottom layer: plain records over ``records.Record``; ``models`` re-exports them.
"""

from __future__ import annotations

from port_server.records import Record, to_plain

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Actor(Record):
    """Who asks for a change: an OS user the kernel vouched for, or a named system job.

    ``uid`` is None when the kernel could not tell (a remote client, an in-process caller).
    ``admin`` may change anyone's allocations (root, the admin group, a bearer-token holder,
    the server's own jobs such as the reaper or a sync).
    """

    name: str
    uid: int | None = None
    admin: bool = False
    via: str = "system"

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls(name=name, uid=None, admin=True, via="system")

    def describe(self) -> str:
        return f"{self.name} (uid {self.uid})" if self.uid is not None else self.name


class AuditEntry(Record):
    """One recorded mutation: who did what to which allocation, with its before/after state."""

    id: int
    time: str
    actor: str
    action: str
    actor_uid: int | None = None
    alloc_id: int | None = None
    app: str = ""
    instance: str = ""
    service: str = ""
    port: int | None = None
    host: str = ""
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)  # type: ignore[no-any-return]


class AuditFilter(Record):
    """Selects audit entries; None matches anything. ``since`` is an ISO time (inclusive)."""

    app: str | None = None
    port: int | None = None
    action: str | None = None
    actor: str | None = None
    since: str | None = None
    limit: int = 1000


#: Actions the audit log records.
AUDIT_ACTIONS = ("allocate", "release", "update", "renew", "import", "sync", "reclaim")
