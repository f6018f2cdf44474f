"""Pure import policy: compare a file's entries with the registry and say what importing would do.

Nothing here reads or writes a store: the caller passes the two lookups in, and the service applies
the plan inside one write transaction (all or nothing). For each entry:

- ``matched``: the same app/instance/service already holds the same port, with no metadata the
  file gives differing (empty fields in the file say nothing, so they never differ);
- ``added``: neither the entry's name nor its port is registered;
- a conflict: the name holds another port, the port belongs to another name, or metadata differs.
  Without ``force`` a single conflict means nothing is changed; with ``force`` the file wins:
  conflicting holders are released and the entry is registered (metadata is updated in place).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from port_server.models import METADATA_FIELDS, Allocation


@dataclass(frozen=True)
class ImportConflictItem:
    entry: Allocation
    reason: str
    holders: tuple[Allocation, ...] = ()
    #: Metadata the file would set when forced (only for a metadata conflict).
    changes: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"entry": self.entry.to_dict(), "reason": self.reason,
                "holders": [h.to_dict() for h in self.holders], "changes": self.changes}


@dataclass(frozen=True)
class ImportPlan:
    added: list[Allocation] = field(default_factory=list)
    matched: list[Allocation] = field(default_factory=list)
    conflicts: list[ImportConflictItem] = field(default_factory=list)


@dataclass(frozen=True)
class ImportReport:
    """What an import did (or, for a dry run or a refused import, would do)."""

    applied: bool
    dry_run: bool
    force: bool
    added: list[Allocation]
    matched: list[Allocation]
    conflicts: list[ImportConflictItem]
    #: Holders released to make room for the file's entries (``force`` only).
    replaced: list[Allocation] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "applied": self.applied, "dry_run": self.dry_run, "force": self.force,
            "added": [a.to_dict() for a in self.added],
            "matched": [a.to_dict() for a in self.matched],
            "conflicts": [c.to_dict() for c in self.conflicts],
            "replaced": [a.to_dict() for a in self.replaced],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImportReport:
        def allocs(name: str) -> list[Allocation]:
            return [Allocation.from_dict(d) for d in data.get(name) or []]

        conflicts = [ImportConflictItem(
            entry=Allocation.from_dict(c["entry"]), reason=str(c.get("reason", "")),
            holders=tuple(Allocation.from_dict(h) for h in c.get("holders") or []),
            changes=dict(c.get("changes") or {})) for c in data.get("conflicts") or []]
        return cls(applied=bool(data.get("applied")), dry_run=bool(data.get("dry_run")),
                   force=bool(data.get("force")), added=allocs("added"),
                   matched=allocs("matched"), conflicts=conflicts, replaced=allocs("replaced"))


def check_unique(entries: Sequence[Allocation]) -> None:
    """A file may name each app/instance/service once and each port/protocol once (a
    conflict within the file: 409, like one with the registry)."""
    from port_server.errors import Conflict

    keys: dict[str, int] = {}
    ports: dict[tuple[int, str], int] = {}
    for i, e in enumerate(entries):
        if e.key in keys:
            raise Conflict(f"allocations[{i}]: {e.key} appears twice in the file (also entry"
                           f" {keys[e.key]}); keep one", field=f"allocations[{i}]")
        if (e.port, e.protocol) in ports:
            raise Conflict(f"allocations[{i}]: port {e.port}/{e.protocol} appears twice in"
                           f" the file (also entry {ports[(e.port, e.protocol)]}); keep one",
                           field=f"allocations[{i}]")
        keys[e.key] = i
        ports[(e.port, e.protocol)] = i


def metadata_changes(entry: Allocation, current: Allocation) -> dict[str, str]:
    return {f: getattr(entry, f) for f in METADATA_FIELDS
            if getattr(entry, f) and getattr(entry, f) != getattr(current, f)}


def plan_import(
    entries: Sequence[Allocation],
    by_key: Callable[[Allocation], Allocation | None],
    by_port: Callable[[Allocation], Allocation | None],
) -> ImportPlan:
    """``by_key``/``by_port``: the registry's holder of the entry's name / port+protocol."""
    check_unique(entries)
    plan = ImportPlan()
    for entry in entries:
        named = by_key(entry)
        porter = by_port(entry)
        if named is not None and named.port == entry.port and named.protocol == entry.protocol:
            changes = metadata_changes(entry, named)
            if not changes:
                plan.matched.append(named)
                continue
            said = ", ".join(f"{k} {getattr(named, k)!r} -> {v!r}" for k, v in changes.items())
            plan.conflicts.append(ImportConflictItem(
                entry, f"{entry.key} holds port {entry.port}, but the file changes {said}",
                (named,), changes))
            continue
        holders: list[Allocation] = []
        reasons: list[str] = []
        if named is not None:
            holders.append(named)
            reasons.append(f"{entry.key} already holds port {named.port}/{named.protocol}"
                           f" (id={named.id}), the file says {entry.port}/{entry.protocol}")
        if porter is not None:
            holders.append(porter)
            reasons.append(f"port {entry.port}/{entry.protocol} is held by {porter.key}"
                           f" (id={porter.id}), the file gives it to {entry.key}")
        if holders:
            plan.conflicts.append(ImportConflictItem(entry, "; ".join(reasons), tuple(holders)))
        else:
            plan.added.append(entry)
    return plan
