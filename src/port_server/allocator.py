"""Pure allocation policy: which port to hand out, given what is taken.

Nothing here touches the database or the OS. The caller passes in two functions:
``next_unregistered(start, stop)`` (the lowest port in [start, stop] that no allocation holds, or
None; the store answers it from its port index) and ``is_bound(port)`` (the OS probe). The search
walks the pool from a hint upwards and asks for as few ports as it can: one index lookup per run of
registered ports and one probe per candidate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from port_server.models import Pool


@dataclass(frozen=True)
class Policy:
    """What auto-assign must avoid besides registered ports."""

    skip_ports: frozenset[int] = frozenset()
    #: The kernel's ephemeral range (outgoing connections take ports from it at any moment).
    ephemeral: tuple[int, int] | None = None


def segments(pool: Pool, policy: Policy) -> list[tuple[int, int]]:
    """The pool's range minus the ephemeral range, as ascending inclusive segments."""
    if policy.ephemeral is None:
        return [(pool.lo, pool.hi)]
    e_lo, e_hi = policy.ephemeral
    out = []
    if pool.lo < e_lo:
        out.append((pool.lo, min(pool.hi, e_lo - 1)))
    if pool.hi > e_hi:
        out.append((max(pool.lo, e_hi + 1), pool.hi))
    return out


def choose_port(
    pool: Pool,
    policy: Policy,
    next_unregistered: Callable[[int, int], int | None],
    is_bound: Callable[[int], bool],
    start: int | None = None,
) -> int | None:
    """The lowest port >= ``start`` in ``pool`` that is unregistered, unbound and not skipped."""
    for seg_lo, seg_hi in segments(pool, policy):
        candidate = max(seg_lo, start or seg_lo)
        while candidate <= seg_hi:
            found = next_unregistered(candidate, seg_hi)
            if found is None:
                break
            if found not in policy.skip_ports and not is_bound(found):
                return found
            candidate = found + 1
    return None


def free_count(pool: Pool, policy: Policy, registered_in_pool: Iterable[int]) -> int:
    """How many ports of the pool auto-assign could still hand out (ignoring OS probes)."""
    usable = sum(hi - lo + 1 for lo, hi in segments(pool, policy))
    blocked = {p for p in policy.skip_ports if p in pool and _in_segments(p, pool, policy)}
    taken = {p for p in registered_in_pool if _in_segments(p, pool, policy)}
    return max(0, usable - len(blocked | taken))


def _in_segments(port: int, pool: Pool, policy: Policy) -> bool:
    return any(lo <= port <= hi for lo, hi in segments(pool, policy))
