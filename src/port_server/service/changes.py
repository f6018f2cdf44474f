"""Changes to existing allocations: release (by id or filter) and update.

Another host's allocations change only with force; every change is authorized (ownership,
protection) before anything is written, and a release of several is all or nothing.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from port_server import fields, leases
from port_server.audit import acting
from port_server.errors import InvalidInput
from port_server.models import Actor, Allocation, AllocationFilter
from port_server.service.core import Allocations, ServiceCore
from port_server.service.validation import check_path, check_pid, check_port, check_text
from port_server.store.base import StoreTx
from port_server.type_inference import AUTO, infer_type

#: What ``update`` may change.
UPDATABLE = frozenset(fields.UPDATABLE)


class Changes(ServiceCore):
    def release_id(self, alloc_id: int, force: bool = False,
                   actor: Actor | str | None = None) -> Allocation:
        def job(tx: StoreTx) -> Allocation:
            alloc = self._require(tx, alloc_id)
            self._refuse_other_host(alloc.host, f"allocation {alloc_id}", force)
            self.authorize(alloc, who, "release", force)
            tx.delete([alloc_id])
            return alloc

        with acting(actor) as who:
            alloc = self._write(job)
        if alloc.host == self.host:
            self._forget_hint([alloc.port])
        return alloc

    def release(self, flt: AllocationFilter, force: bool = False,
                actor: Actor | str | None = None) -> Allocations:
        if replace(flt, host=None).is_empty():
            raise InvalidInput(
                "filter: give at least one of app, instance, service, port (or release by id);"
                " an empty filter would release everything", field="filter")
        if flt.port is not None:
            check_port(flt.port)
        if flt.host is None:
            flt = replace(flt, host=self.host)
        what = "every host's allocations" if flt.host == "*" else "the allocations"
        self._refuse_other_host(str(flt.host), what, force)
        def job(tx: StoreTx) -> Allocations:
            victims = tx.select(flt)
            for alloc in victims:  # all or nothing: one refusal releases none
                self.authorize(alloc, who, "release", force)
            tx.delete([a.id for a in victims])
            return victims

        with acting(actor) as who:
            victims = self._write(job)
        self._forget_hint([a.port for a in victims if a.host == self.host])
        return victims

    def update(self, alloc_id: int, changes: dict[str, Any], force: bool = False,
               actor: Actor | str | None = None) -> Allocation:
        changes = self._checked_changes(changes)
        if changes.get("type") == AUTO:
            with self.store.read() as rtx:
                service = self._require(rtx, alloc_id).service
            changes["type"] = infer_type(service, self.type_rules)
        if "pid" in changes:  # identify the process by its start time too (pid reuse)
            changes["pid_start"] = (leases.process_start(changes["pid"])
                                    if changes["pid"] is not None else None)
        if changes.get("type"):
            self.settings.pool(str(changes["type"]))
        def job(tx: StoreTx) -> Allocation:
            current = self._require(tx, alloc_id)
            self._refuse_other_host(current.host, f"allocation {alloc_id}", force)
            # Recording which process uses the port (portctl run) is not a change of the
            # allocation itself: protection does not stand in its way; ownership does.
            usage_only = set(changes) <= {"pid", "pid_start", "command"}
            self.authorize(current, who, "update", force or usage_only)
            if changes.get("owner"):
                self.authz.name_owner(str(changes["owner"]), who)
            if changes.get("pid") is not None:
                self.authz.use_process(int(changes["pid"]), who)
            if changes.get("http") and not current.http:
                self._check_name(tx, replace(current, http=True))
            return tx.update(alloc_id, {**changes, "updated_at": self.clock()})

        with acting(actor) as who:
            return self._write(job)

    @staticmethod
    def _checked_changes(changes: dict[str, Any]) -> dict[str, Any]:
        unknown = set(changes) - UPDATABLE
        if unknown:
            name = sorted(unknown)[0]
            raise InvalidInput(
                f"{name}: cannot be updated; updatable: {', '.join(sorted(UPDATABLE))}",
                field=name)
        changes = dict(changes)
        for name, value in changes.items():
            if fields.ALLOCATION_FIELDS[name].kind == "bool":
                if not isinstance(value, bool):
                    raise InvalidInput(f"{name}: must be true or false", field=name)
            elif name == "pid":
                check_pid(value, clearable=True)
            elif name == "path":
                check_path(value)
            else:
                check_text(name, value, limit=fields.ALLOCATION_FIELDS[name].limit)
        if changes.get("pid") == 0:  # 0 clears: the process using the port has ended
            changes["pid"] = None
        return changes
