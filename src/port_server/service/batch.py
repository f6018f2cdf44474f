"""Applying a batch in one write transaction: a sync from an outside source (Dokploy) and an
import of a registry file. Both are planned by pure functions (``integrations.sync_plan``,
``import_plan``) and applied here: all of it or none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from port_server.audit import acting
from port_server.errors import ImportConflict, InvalidInput, PermissionDenied, PortAllocated
from port_server.import_plan import ImportPlan, ImportReport, plan_import
from port_server.models import Actor, Allocation, AllocationFilter, AllocationRequest
from port_server.service.core import Requests, ServiceCore
from port_server.service.validation import check_name, check_port, check_text, prefixed
from port_server.store.base import DuplicateKey, StoreTx

if TYPE_CHECKING:
    from port_server.integrations.sync_plan import PlanItem

Plan = list["PlanItem"]


def entry_request(entry: Allocation, source: str | None = None) -> AllocationRequest:
    """The allocate request that registers a registry file's ``entry`` as it is."""
    return AllocationRequest(
        app=entry.app, instance=entry.instance, service=entry.service, port=entry.port,
        protocol=entry.protocol, type=entry.type, owner=entry.owner,
        environment=entry.environment, status=entry.status, url=entry.url, note=entry.note,
        source=source if source is not None else entry.source, protected=entry.protected,
        http=entry.http or None)  # a file from before the http field: the pool decides


class Batches(ServiceCore):
    def sync(self, source: str, desired: Requests, dry_run: bool = False,
             host: str | None = None, actor: Actor | str | None = None) -> Plan:
        """Bring ``source``'s allocations on ``host`` in step with ``desired``, in one transaction.

        Only allocations of ``source`` change; a port or name held by another source is a
        ``conflict`` in the plan and stays as it is. A dry run only reads; applying needs an
        admin or a configured sync user, and the audit log names them ("alice via
        dokploy-sync").
        """
        from port_server.integrations.sync_plan import plan_sync

        host = check_name("host", host) if host else self.host
        for index, req in enumerate(desired):
            where = f"allocations[{index}]"
            if req.source != source:
                raise InvalidInput(f"{where}.source: must be {source!r}", field=f"{where}.source")
            if not req.port:
                raise InvalidInput(f"{where}.port: required; use 1-65535", field=f"{where}.port")
            try:
                self._validate(req)
                check_port(req.port)
            except InvalidInput as exc:
                raise prefixed(where, exc) from None
        if dry_run:
            with self.store.read() as tx:
                return plan_sync(desired, tx.select(AllocationFilter(host=host)), source)
        with acting(actor) as who:
            job = self.authz.sync(who, source)
        def apply(tx: StoreTx) -> Plan:
            plan = plan_sync(desired, tx.select(AllocationFilter(host=host)), source)
            now = self.clock()
            tx.delete([it.alloc_id for it in plan if it.alloc_id is not None and (
                it.action == "remove" or it.moves)])
            for it in plan:
                if it.action == "update" and not it.moves and it.alloc_id is not None:
                    tx.update(it.alloc_id, {**{k: v[1] for k, v in it.changes.items()},
                                            "updated_at": now})
            for i, it in enumerate(plan):
                if it.request is not None and (it.action == "add" or it.moves):
                    alloc = self._insert(tx, it.request, it.request.port or 0, host=host)
                    plan[i] = replace(it, alloc_id=alloc.id)
            return plan

        with acting(job, action="sync"):
            plan = self._write(apply)
        self._forget_hint([it.old_port or it.port for it in plan
                           if it.action == "remove" or it.moves])
        return plan

    def import_allocations(self, entries: Sequence[Allocation], force: bool = False,
                           dry_run: bool = False, actor: Actor | str | None = None
                           ) -> ImportReport:
        """Register a registry file's entries in one write transaction: all of them or none.

        Entries record services that already exist, so a port bound on this machine is
        registered without asking (``force`` semantics for the OS probe). Registry conflicts
        (see ``import_plan``) change nothing unless ``force``, which lets the file win, but
        only over holders the caller may change: others' allocations stay conflicts (403).
        """
        checked = [self._validate_entry(i, e) for i, e in enumerate(entries)]
        def apply(tx: StoreTx) -> tuple[ImportReport, dict[int, Allocation]]:
            for index, entry in enumerate(checked):
                if entry.owner:
                    self.authz.name_owner(entry.owner, who, f"allocations[{index}].owner")
            plan = plan_import(
                checked,
                lambda e: tx.find_key(self.host, e.app, e.instance, e.service),
                lambda e: next((h for h in tx.find_port(self.host, e.port)
                                if h.protocol == e.protocol), None))
            if dry_run or (plan.conflicts and not force):
                report = ImportReport(False, dry_run, force, plan.added, plan.matched,
                                      plan.conflicts)
                if dry_run:
                    return report, {}
                raise ImportConflict(
                    f"{len(plan.conflicts)} conflict(s) with the registry; nothing was changed."
                    f" First: {plan.conflicts[0].reason}. Re-run with --force to let the file"
                    " win, or --dry-run to see them all", report=report.to_dict())
            self._refuse_foreign(plan, who)
            now = self.clock()
            replaced: dict[int, Allocation] = {}
            to_insert = list(plan.added)
            for conflict in plan.conflicts:
                if conflict.changes:
                    tx.update(conflict.holders[0].id, {**conflict.changes, "updated_at": now})
                else:
                    replaced.update((h.id, h) for h in conflict.holders)
                    to_insert.append(conflict.entry)
            tx.delete(sorted(replaced))
            added = [self._insert_entry(tx, entry, now) for entry in to_insert]
            return ImportReport(True, False, force, added, plan.matched, plan.conflicts,
                                list(replaced.values())), replaced

        with acting(actor, action="import") as who:
            report, replaced = self._write(apply)
        self._forget_hint([a.port for a in replaced.values()])
        return report

    def _refuse_foreign(self, plan: ImportPlan, who: Actor) -> None:
        """``force`` lets the file win only over holders ``who`` may change; any other
        conflict refuses the whole import (403), listing those conflicts."""
        foreign = []
        for conflict in plan.conflicts:
            why = next((r for h in conflict.holders
                        if (r := self.authz.refusal(h, who, "replace", force=True))), None)
            if why:
                foreign.append((conflict, why))
        if foreign:
            report = ImportReport(False, False, True, plan.added, plan.matched,
                                  [c for c, _ in foreign])
            raise PermissionDenied(
                f"{foreign[0][1]}; --force replaces only allocations you may change, and"
                f" {len(foreign)} conflict(s) are with others'. Nothing was imported; see"
                " --dry-run", report=report.to_dict())

    def _validate_entry(self, index: int, entry: Allocation) -> Allocation:
        """The entry checked like an allocate request; errors name ``allocations[i].field``."""
        try:
            req = self._validate(entry_request(entry))
            check_port(entry.port)
            check_text("source", entry.source, limit=32)
            for name in ("created_at", "updated_at"):
                check_text(name, getattr(entry, name), limit=64)
        except InvalidInput as exc:
            raise prefixed(f"allocations[{index}]", exc, "entry") from None
        return replace(entry, type=req.type)

    def _insert_entry(self, tx: StoreTx, entry: Allocation, now: str) -> Allocation:
        req = self._validate(entry_request(entry, source=entry.source or "import"))
        try:
            alloc = tx.insert(self.host, req, entry.port, entry.created_at or now)
        except DuplicateKey:
            raise PortAllocated(f"port {entry.port} was just allocated by another request;"
                                " nothing was imported, retry") from None
        updated = entry.updated_at or now
        if updated != alloc.updated_at:
            alloc = tx.update(alloc.id, {"updated_at": updated})
        return alloc
