"""RegistryService: the only code that writes to the registry.

It validates requests, applies the allocation semantics (idempotent re-allocation, explicit ports,
auto-assign from pools), and asks the allocator (pure policy), the probe (the OS) and the store
(records). The HTTP layer and every feature go through it.

Every write transaction is audited (``audit.AuditedStore`` wraps the store), and mutating methods
take an optional ``actor``: who asks (``models.Actor``, or a name for a system job such as
"dokploy-sync"). Without one, the request's caller set by the HTTP layer is used, else "local".
Changing another OS user's allocation needs root or the admin group; protected allocations need
``force``; leases (``ttl``, ``pid``) end and the reaper (``reap``) reclaims them.

The package is split by job; ``RegistryService`` puts the jobs together over one shared core:

    core.py        ServiceCore: store, settings, probe, clock, policy, hints; shared helpers
    validation.py  input checks (names, ports, text, durations, a whole allocate request)
    hints.py       HintCache: where auto-assign starts in each pool
    reads.py       list, get, check_port, pools, suggest, scan
    allocation.py  allocate (explicit, auto-assign, leases on create)
    changes.py     release, release_id, update
    batch.py       sync (Dokploy) and import, each one transaction
    ownership.py   renew, reap, audit log and retention
    pruning.py     prune_worktrees: allocations whose worktree is gone
"""

from __future__ import annotations

from port_server.service.allocation import Allocating
from port_server.service.batch import Batches
from port_server.service.changes import Changes
from port_server.service.core import Probe, utcnow
from port_server.service.ownership import Ownership
from port_server.service.pruning import Pruning
from port_server.service.reads import Reads

__all__ = ["Probe", "RegistryService", "utcnow"]


class RegistryService(Reads, Allocating, Changes, Batches, Ownership, Pruning):
    """The registry's use cases over one store; see the module docstring for the parts."""
