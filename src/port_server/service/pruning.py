"""Prune: release the allocations whose recorded worktree is gone (``worktrees.stale``).

The dashboard asks through ``POST /v1/prune`` (as its caller: another user's allocations are
refused, not released); the reaper runs it as the system job "worktree-prune" when the config
turns it on (``[worktrees] auto_prune = true``). File system checks run outside the write lock;
each candidate is re-read inside it and released only if it is unchanged.
"""

from __future__ import annotations

from typing import Any

from port_server import worktrees
from port_server.audit import acting
from port_server.errors import InvalidInput, PermissionDenied, PortServerError
from port_server.models import Actor, Allocation, AllocationFilter, parse_duration
from port_server.service.core import ServiceCore
from port_server.store.base import StoreTx

#: Seconds between automatic prunes unless ``[worktrees] prune_interval`` says otherwise.
AUTO_PRUNE_EVERY = 600.0


def auto_prune_interval(extra: dict[str, Any]) -> float | None:
    """Seconds between automatic prunes, or None when ``[worktrees] auto_prune`` is off."""
    table = extra.get("worktrees") or {}
    if not isinstance(table, dict):
        raise InvalidInput("config [worktrees] must be a table", field="worktrees")
    unknown = sorted(set(table) - {"auto_prune", "prune_interval"})
    if unknown:
        raise InvalidInput(f"config worktrees.{unknown[0]}: unknown key; known: auto_prune,"
                           " prune_interval", field=f"worktrees.{unknown[0]}")
    enabled = table.get("auto_prune", False)
    if not isinstance(enabled, bool):
        raise InvalidInput("config worktrees.auto_prune: use true or false",
                           field="worktrees.auto_prune")
    if not enabled:
        return None
    try:
        return parse_duration(table.get("prune_interval", AUTO_PRUNE_EVERY),
                              "worktrees.prune_interval")
    except ValueError as exc:
        raise InvalidInput(f"config {exc}", field="worktrees.prune_interval") from None


class Pruning(ServiceCore):
    def prune_worktrees(self, dry_run: bool = False, actor: Actor | str | None = None
                        ) -> tuple[list[tuple[Allocation, str]], list[tuple[Allocation, str]]]:
        """(released, refused): this host's allocations whose worktree is gone, each with the
        reason; ``refused`` are those the caller may not release (the reason says why)."""
        with self.store.read() as tx:
            candidates = tx.select(AllocationFilter(host=self.host))
        stale = worktrees.stale(candidates)
        if not stale:
            return [], []
        released: list[tuple[Allocation, str]] = []
        refused: list[tuple[Allocation, str]] = []
        with acting(actor, action="release") as who:
            for alloc, reason in stale:
                try:
                    self.authorize(alloc, who, "release")
                except PortServerError as exc:
                    refused.append((alloc, exc.message))
                    continue
                released.append((alloc, reason))
            if refused and not released and not dry_run:
                # Asked to release, and every gone worktree's port is someone else's: a
                # refusal (403), as for any other change the caller may not make.
                raise PermissionDenied(
                    f"{refused[0][1]} (its worktree is gone; {len(refused)} such port(s), none"
                    " yours to release)", refused=[a.id for a, _ in refused])
            if dry_run or not released:
                return released, refused

            def job(wtx: StoreTx) -> list[tuple[Allocation, str]]:
                done: list[tuple[Allocation, str]] = []
                for alloc, reason in released:
                    if wtx.get(alloc.id) != alloc:
                        continue  # changed meanwhile (re-made by `up`?): leave it
                    with acting(reason=reason):
                        wtx.delete([alloc.id])
                    done.append((alloc, reason))
                return done

            done = self._write(job)
        self._forget_hint([a.port for a, _ in done])
        return done, refused
