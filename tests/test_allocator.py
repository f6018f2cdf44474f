"""Pure allocation policy: no database, no OS; lookups are plain functions."""

from __future__ import annotations

from port_server.allocator import Policy, choose_port, free_count, segments
from port_server.models import Pool


def lookup(registered: set[int], calls: list[int] | None = None):  # type: ignore[no-untyped-def]
    def next_unregistered(start: int, stop: int) -> int | None:
        if calls is not None:
            calls.append(start)
        for port in range(start, stop + 1):
            if port not in registered:
                return port
        return None
    return next_unregistered


def never_bound(port: int) -> bool:
    return False


def test_lowest_unregistered_port() -> None:
    pool = Pool("p", 100, 110)
    assert choose_port(pool, Policy(), lookup({100, 101, 103}), never_bound) == 102


def test_skip_list_and_bound_ports_are_passed_over() -> None:
    pool = Pool("p", 100, 110)
    policy = Policy(skip_ports=frozenset({100, 101}))
    assert choose_port(pool, policy, lookup(set()), lambda p: p == 102) == 103


def test_ephemeral_range_is_cut_out() -> None:
    pool = Pool("p", 100, 200)
    policy = Policy(ephemeral=(120, 180))
    assert segments(pool, policy) == [(100, 119), (181, 200)]
    assert choose_port(pool, policy, lookup(set(range(100, 120))), never_bound) == 181
    assert segments(Pool("inside", 130, 140), policy) == []


def test_exhausted_pool_returns_none() -> None:
    pool = Pool("p", 100, 102)
    assert choose_port(pool, Policy(), lookup({100, 101, 102}), never_bound) is None
    assert choose_port(pool, Policy(), lookup(set()), lambda p: True) is None


def test_start_hint_is_respected() -> None:
    pool = Pool("p", 100, 110)
    calls: list[int] = []
    assert choose_port(pool, Policy(), lookup(set(), calls), never_bound, start=105) == 105
    assert calls == [105]


def test_free_count() -> None:
    pool = Pool("p", 100, 109)
    policy = Policy(skip_ports=frozenset({100, 200}))
    assert free_count(pool, policy, [101, 102, 100]) == 7
