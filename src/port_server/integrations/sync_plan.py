"""Plan a sync: what an outside source (Dokploy) publishes against what the registry holds (pure).

Actions: ``add``, ``update`` (metadata, or a new port), ``unchanged``, ``remove`` (an allocation of
this source whose service is gone) and ``conflict`` (the port or the name is held by an allocation
of another source: reported, never overwritten). Only allocations of ``source`` are ever changed.

Applying runs removals and moves first, then in-place updates, then inserts, inside one transaction,
so ports can change hands between this source's own services (even a swap) without tripping the
store's unique constraints. A service whose new port is blocked keeps its old row, and anyone
waiting for that row's port becomes a conflict too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from port_server.models import Allocation, AllocationRequest

ACTIONS = ("add", "update", "unchanged", "remove", "conflict")
#: Fields a sync keeps in step (besides port and protocol).
SYNCED_FIELDS = ("type", "environment", "status", "url", "note")


@dataclass(frozen=True)
class PlanItem:
    action: str
    app: str
    instance: str
    service: str
    port: int
    protocol: str = "tcp"
    alloc_id: int | None = None
    old_port: int | None = None
    detail: str = ""
    changes: dict[str, list[Any]] = field(default_factory=dict)
    request: AllocationRequest | None = None

    @property
    def key(self) -> str:
        return f"{self.app}/{self.instance}/{self.service}"

    @property
    def moves(self) -> bool:
        return self.action == "update" and ("port" in self.changes or "protocol" in self.changes)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "action": self.action, "app": self.app, "instance": self.instance,
            "service": self.service, "port": self.port, "protocol": self.protocol,
            "id": self.alloc_id, "detail": self.detail}
        if self.old_port is not None:
            data["old_port"] = self.old_port
        if self.changes:
            data["changes"] = self.changes
        return data


def _key(req: AllocationRequest) -> str:
    return f"{req.app}/{req.instance}/{req.service}"


def _item(action: str, req: AllocationRequest, **kw: Any) -> PlanItem:
    return PlanItem(action, req.app, req.instance, req.service, int(req.port or 0), req.protocol,
                    request=req, **kw)


def plan_sync(desired: Sequence[AllocationRequest], existing: Sequence[Allocation],
              source: str) -> list[PlanItem]:
    by_key = {a.key: a for a in existing}
    by_port = {(a.port, a.protocol): a for a in existing}

    # An entry whose row already holds its port claims it before anyone else may.
    def keeps_port(req: AllocationRequest) -> bool:
        cur = by_key.get(_key(req))
        return cur is not None and (cur.port, cur.protocol) == (req.port, req.protocol)

    order = sorted(range(len(desired)), key=lambda i: (not keeps_port(desired[i]), i))
    items: dict[int, PlanItem] = {}
    claimed: dict[tuple[int, str], str] = {}
    listed: set[str] = set()
    waiting: dict[int, Allocation] = {}  # entry -> the row of this source it needs to move away
    for i in order:
        req = desired[i]
        key, wanted = _key(req), (int(req.port or 0), req.protocol)
        cur = by_key.get(key)
        if key in listed:
            items[i] = _item("conflict", req, detail=f"{key} is listed twice by {source}")
            continue
        listed.add(key)
        if cur is not None and cur.source != source:
            items[i] = _item("conflict", req, alloc_id=cur.id, detail=(
                f"{key} is already registered by source {cur.source!r} (port {cur.port},"
                f" id={cur.id}); not overwritten"))
            continue
        if wanted in claimed:
            items[i] = _item("conflict", req, detail=(
                f"port {wanted[0]}/{wanted[1]} is also published by {claimed[wanted]}"))
            continue
        holder = by_port.get(wanted)
        if holder is not None and holder.key != key:
            if holder.source != source:
                items[i] = _item("conflict", req, alloc_id=holder.id, detail=(
                    f"port {wanted[0]}/{wanted[1]} is held by {holder.key} (source"
                    f" {holder.source!r}, id={holder.id}); not overwritten"))
                continue
            waiting[i] = holder
        claimed[wanted] = key
        items[i] = _settle(req, cur)

    # A row of this source stays where it is when its own entry is a conflict (or unchanged):
    # whoever waits for its port cannot have it. Repeat until nothing changes (chains).
    staying = {it.key for it in items.values() if it.action in ("conflict", "unchanged")
               or (it.action == "update" and not it.moves)}
    changed = True
    while changed:
        changed = False
        for i, holder in list(waiting.items()):
            if holder.key in staying:
                req = desired[i]
                items[i] = _item("conflict", req, alloc_id=holder.id, detail=(
                    f"port {req.port}/{req.protocol} is still held by {holder.key}"
                    f" (id={holder.id}), which cannot move"))
                del waiting[i]
                staying.add(items[i].key)
                changed = True

    plan = [items[i] for i in range(len(desired))]
    listed_keys = {_key(r) for r in desired}
    for alloc in existing:
        if alloc.source == source and alloc.key not in listed_keys:
            plan.append(PlanItem("remove", alloc.app, alloc.instance, alloc.service, alloc.port,
                                 alloc.protocol, alloc_id=alloc.id,
                                 detail=f"no longer published by {source}"))
    return plan


def _settle(req: AllocationRequest, cur: Allocation | None) -> PlanItem:
    if cur is None:
        return _item("add", req)
    changes: dict[str, list[Any]] = {}
    if cur.port != req.port:
        changes["port"] = [cur.port, req.port]
    if cur.protocol != req.protocol:
        changes["protocol"] = [cur.protocol, req.protocol]
    for name in SYNCED_FIELDS:
        old, new = getattr(cur, name), getattr(req, name)
        if old != new:
            changes[name] = [old, new]
    if not changes:
        return _item("unchanged", req, alloc_id=cur.id)
    detail = ", ".join(sorted(changes))
    return _item("update", req, alloc_id=cur.id, changes=changes, detail=f"changed: {detail}",
                 old_port=cur.port if "port" in changes else None)


def summary(plan: Sequence[PlanItem]) -> dict[str, int]:
    return {action: sum(1 for it in plan if it.action == action) for action in ACTIONS}
