"""HintCache: where auto-assign starts in each pool (a lower bound: stale, never wrong)."""

from __future__ import annotations

import threading

from port_server.models import Pool
from port_server.service.hints import HintCache

WEB = Pool("web", 3000, 3099)
DB = Pool("db", 5400, 5499)


def test_without_a_hint_the_search_starts_at_the_bottom_of_the_pool() -> None:
    hints = HintCache()
    assert hints.start(WEB, releases=0) == 3000
    assert hints.start(DB, releases=0) == 5400


def test_record_moves_the_hint_past_a_port_handed_out_at_the_first_free_one() -> None:
    hints = HintCache()
    hints.start(WEB, 0)
    hints.record(WEB, 3005, first_free=3005)
    assert hints.start(WEB, 0) == 3006
    assert hints.start(DB, 0) == 5400  # per pool


def test_a_bound_first_free_port_stays_the_hint() -> None:
    hints = HintCache()
    hints.start(WEB, 0)
    # 3002 was unregistered but bound by the OS, so 3003 was handed out: 3002 may be free later
    hints.record(WEB, 3003, first_free=3002)
    assert hints.start(WEB, 0) == 3002


def test_forget_lowers_the_hint_to_a_released_port_in_that_pool_only() -> None:
    hints = HintCache()
    hints.start(WEB, 0)
    hints.record(WEB, 3010, first_free=3010)
    hints.record(DB, 5410, first_free=5410)
    hints.forget([WEB, DB], [3004, 9999])
    assert hints.get(WEB) == 3004
    assert hints.get(DB) == 5411
    hints.forget([WEB], [3050])  # above the hint: nothing to lower
    assert hints.get(WEB) == 3004


def test_a_changed_release_count_drops_every_hint() -> None:
    hints = HintCache()
    hints.start(WEB, 7)
    hints.record(WEB, 3020, first_free=3020)
    hints.record(DB, 5420, first_free=5420)
    assert hints.start(WEB, 7) == 3021
    # another server sharing the store released something: start afresh everywhere
    assert hints.start(WEB, 8) == 3000
    assert hints.start(DB, 8) == 5400


def test_concurrent_records_and_forgets_leave_a_hint_inside_the_pool() -> None:
    hints = HintCache()
    hints.start(WEB, 0)

    def work(base: int) -> None:
        for i in range(200):
            port = 3000 + (base + i) % 100
            hints.record(WEB, port, first_free=port)
            hints.forget([WEB], [port])

    threads = [threading.Thread(target=work, args=(n * 13,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 3000 <= hints.get(WEB) <= 3100
