"""RegistryService with a real SQLite file and the real OS probe."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

import pytest

from port_server.errors import (
    InvalidInput,
    PoolExhausted,
    PortAllocated,
    PortInUse,
    ServiceHoldsPort,
)
from port_server.models import AllocationFilter, AllocationRequest, Pool
from port_server.service import RegistryService
from port_server.settings import Settings
from port_server.store.sqlite import SQLiteStore


def req(service: str, **kw: object) -> AllocationRequest:
    return AllocationRequest(app="app", instance="dev", service=service, **kw)  # type: ignore[arg-type]


def small_service(tmp_path: Path, settings: Settings, lo: int, hi: int,
                  skip: frozenset[int] = frozenset()) -> RegistryService:
    pools = {**settings.pools, "default": Pool("default", lo, hi), "tiny": Pool("tiny", lo, hi)}
    store = SQLiteStore(tmp_path / "small.db")
    return RegistryService(store, replace(settings, pools=pools, skip_ports=skip))


def test_auto_assign_lowest_free_and_reuse(tmp_path: Path, settings: Settings) -> None:
    svc = small_service(tmp_path, settings, 23100, 23120)
    ports = [svc.allocate(req(f"s{i}")).allocation.port for i in range(3)]
    assert ports == sorted(ports) and len(set(ports)) == 3
    freed = svc.release(AllocationFilter(app="app", service="s0"))[0].port
    assert svc.allocate(req("again")).allocation.port == freed


def test_skip_list_never_auto_assigned(tmp_path: Path, settings: Settings) -> None:
    svc = small_service(tmp_path, settings, 23200, 23205, skip=frozenset({23200, 23201}))
    assert svc.allocate(req("a")).allocation.port == 23202
    # an explicit request may still take a skipped port
    assert svc.allocate(req("b", port=23200)).allocation.port == 23200


def test_bound_port_is_skipped_and_explicit_needs_force(tmp_path: Path,
                                                        settings: Settings) -> None:
    svc = small_service(tmp_path, settings, 23300, 23310)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 23300))
        listener.listen()
        assert svc.allocate(req("auto")).allocation.port != 23300
        with pytest.raises(PortInUse) as err:
            svc.allocate(req("explicit", port=23300))
        assert "--force" in err.value.message and "pid" in err.value.message
        forced = svc.allocate(req("explicit", port=23300, force=True))
        assert forced.allocation.port == 23300


def test_udp_and_ipv6_binds_count(tmp_path: Path, settings: Settings) -> None:
    svc = small_service(tmp_path, settings, 23400, 23401)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, \
            socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as v6:
        udp.bind(("127.0.0.1", 23400))
        v6.bind(("::1", 23401))
        v6.listen()
        with pytest.raises(PoolExhausted) as err:
            svc.allocate(req("a"))
        assert "no ports available in pool default (23400-23401)" in err.value.message


def test_conflicts(tmp_path: Path, settings: Settings) -> None:
    svc = small_service(tmp_path, settings, 23500, 23510)
    held = svc.allocate(req("a", port=23505)).allocation
    with pytest.raises(PortAllocated) as err:
        svc.allocate(AllocationRequest(app="other", instance="x", service="y", port=23505))
    assert err.value.extra["holder"]["id"] == held.id
    with pytest.raises(ServiceHoldsPort):
        svc.allocate(req("a", port=23506))
    assert svc.allocate(req("a")).created is False


def test_release_needs_a_filter(service: RegistryService) -> None:
    with pytest.raises(InvalidInput):
        service.release(AllocationFilter())


def test_typed_pool(service: RegistryService) -> None:
    alloc = service.allocate(req("api", type="api")).allocation
    assert 8000 <= alloc.port <= 8099 and alloc.port not in (8000, 8080, 8081)
    with pytest.raises(InvalidInput) as err:
        service.allocate(req("x", type="bogus"))
    assert err.value.field == "type"


def test_hint_survives_release_in_the_middle(tmp_path: Path, settings: Settings) -> None:
    svc = small_service(tmp_path, settings, 23600, 23700)
    got = [svc.allocate(req(f"s{i}")).allocation for i in range(10)]
    svc.release_id(got[4].id)
    assert svc.allocate(req("new")).allocation.port == got[4].port
    assert svc.allocate(req("next")).allocation.port == got[9].port + 1


def test_suggest_and_pools(tmp_path: Path, settings: Settings) -> None:
    svc = small_service(tmp_path, settings, 23800, 23809)
    first = svc.suggest("tiny", 3)
    assert len(first) == 3 and first == sorted(first)
    assert svc.list() == []
    svc.allocate(req("a", type="tiny"))
    usage = {u.pool.name: u for u in svc.pools()}
    assert usage["tiny"].used == 1 and usage["tiny"].free == 9
