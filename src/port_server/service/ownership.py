"""Leases, the reaper and the audit trail's reads and retention.

Ownership checks themselves (``authorize``) live in ``ServiceCore``: every job uses them.
"""

from __future__ import annotations

from port_server import leases
from port_server.audit import acting
from port_server.errors import InvalidInput, PermissionDenied
from port_server.models import Actor, Allocation, AuditFilter
from port_server.service.core import AuditEntries, Reclaimed, ServiceCore
from port_server.service.validation import duration
from port_server.store.base import StoreTx


class Ownership(ServiceCore):
    def renew(self, alloc_id: int, ttl: float | str, actor: Actor | str | None = None
              ) -> Allocation:
        """Set the allocation's expiry to now + ``ttl`` (also turns a lease-less one into one)."""
        seconds = duration(ttl)
        def job(tx: StoreTx) -> Allocation:
            alloc = self._require(tx, alloc_id)
            self.authorize(alloc, who, "renew", force=True)
            now = self.clock()
            return tx.update(alloc_id, {"expires_at": leases.iso_after(now, seconds),
                                        "updated_at": now})

        with acting(actor, action="renew") as who:
            return self._write(job)

    def reap(self, dry_run: bool = False, actor: Actor | str = "reaper") -> Reclaimed:
        """Release expired and dead-process leases (never protected or lease-less ones).

        ``actor`` is the server's reaper, or a caller asking for it now (``gc``): one who may
        not release every ended lease releases none (all or nothing, like ``release``).
        Process checks run outside the write lock; each candidate is re-read inside it and
        released only if it is unchanged, so a renewal racing the reaper wins.
        """
        with self.store.read() as tx:
            candidates = tx.leased(self.host)
        now = self.clock()
        ended = [(a, r) for a in candidates if (r := leases.lease_end_reason(a, now))]
        if dry_run or not ended:
            return ended
        def job(wtx: StoreTx) -> Reclaimed:
            reclaimed: Reclaimed = []
            for alloc, reason in ended:
                if wtx.get(alloc.id) != alloc:
                    continue
                try:  # a refusal rolls all of it back
                    self.authorize(alloc, who, "reclaim")
                except PermissionDenied as exc:
                    raise PermissionDenied(
                        f"{exc.message}; the server reclaims ended leases itself every"
                        f" {self.settings.security.reap_interval:g}s", **exc.extra) from None
                with acting(reason=reason):
                    wtx.delete([alloc.id])
                reclaimed.append((alloc, reason))
            return reclaimed

        with acting(actor, action="reclaim") as who:
            reclaimed = self._write(job)
        self._forget_hint([a.port for a, _ in reclaimed])
        return reclaimed

    def prune_audit(self) -> int:
        """Drop audit entries beyond the configured retention (age and count)."""
        sec = self.settings.security
        cutoff = leases.iso_after(self.clock(), -sec.audit_retention_days * 86400)
        # Through the writer like every change; pruning itself is not audited (the
        # audited tx passes prune_audit straight to the store).
        return self._write(lambda tx: tx.prune_audit(cutoff, sec.audit_max_entries))

    def log(self, flt: AuditFilter | None = None) -> AuditEntries:
        flt = flt or AuditFilter()
        if not 1 <= flt.limit <= 100_000:
            raise InvalidInput("limit: use a number from 1 to 100000", field="limit")
        with self.store.read() as tx:
            return tx.select_audit(flt)
