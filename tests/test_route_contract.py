"""The authorization contract: every route that can change anything refuses a foreign non-admin
user (403) and an unknown caller (403), and changes nothing.

The mutating routes are read from the app's own route table (and /openapi.json), so a route added
later fails here until it has an entry in ATTACKS, and then fails again unless it asks the one
authorization point (``service/authorization.py``).

The caller's identity is what the daemon's protocol captures at accept time (``server/peer.py``);
here it is put on the connection the same way (the ASGI scope's peer extension), in process.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from conftest import in_process_client
from port_server.models import Actor, AllocationRequest
from port_server.service import RegistryService
from port_server.settings import Settings

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
ROOT = Actor("root", uid=0, via="unix")


def stranger_uid() -> int:
    """A uid that is neither root nor the one the server (this test) runs as."""
    for uid in (65534, 54321):
        if uid != os.geteuid():
            return uid
    raise AssertionError("unreachable")


@pytest.fixture
def victim(service: RegistryService) -> dict[str, int]:
    """Root's allocations: plain, protected, an ended lease, and a Dokploy one."""
    ids: dict[str, int] = {}

    def make(name: str, **kw: Any) -> None:
        alloc = service.allocate(AllocationRequest(app="victim", instance="prod", **kw),
                                 actor=ROOT).allocation
        ids[name], ids[f"{name}_port"] = alloc.id, alloc.port

    make("plain", service="web")
    make("protected", service="db", protected=True)
    make("leased", service="job", ttl="1s")
    make("worktree", service="api", path="/nonexistent/removed-worktree")  # gone: prunable
    service.sync("dokploy", [AllocationRequest(app="shop", instance="prod", service="web",
                                               port=41950, source="dokploy")])
    with service.raw_store.write() as tx:  # the lease ended a while ago
        tx.update(ids["leased"], {"expires_at": "2001-01-01T00:00:00.000000Z"})
    assert [a.id for a, _ in service.reap(dry_run=True)] == [ids["leased"]]
    return ids


Attack = Callable[[dict[str, int]], dict[str, Any]]
#: For each mutating route: the request a hostile user would send against root's allocations.
ATTACKS: dict[tuple[str, str], Attack] = {
    ("POST", "/v1/allocations"): lambda ids: {"json": {
        "app": "mine", "instance": "i", "service": "s", "owner": "root"}},
    ("DELETE", "/v1/allocations"): lambda ids: {"json": {"app": "victim", "force": True}},
    ("DELETE", "/v1/allocations/{alloc_id}"): lambda ids: {
        "path": {"alloc_id": ids["plain"]}, "params": {"force": "true"}},
    ("PATCH", "/v1/allocations/{alloc_id}"): lambda ids: {
        "path": {"alloc_id": ids["protected"]}, "params": {"force": "true"},
        "json": {"owner": "mallory", "protected": False}},
    ("POST", "/v1/allocations/{alloc_id}/renew"): lambda ids: {
        "path": {"alloc_id": ids["leased"]}, "json": {"ttl": "7d"}},
    ("POST", "/v1/gc"): lambda ids: {"json": {}},
    ("POST", "/v1/import"): lambda ids: {"json": {"force": True, "allocations": [
        {"app": "takeover", "instance": "i", "service": "s", "port": ids["plain_port"]}]}},
    ("POST", "/v1/sync/dokploy"): lambda ids: {"json": {"allocations": []}},
    ("POST", "/v1/prune"): lambda ids: {"json": {}},
    ("POST", "/v1/proxy/start"): lambda ids: {},
    ("POST", "/v1/proxy/stop"): lambda ids: {},
}


def mutating_routes(client: TestClient) -> set[tuple[str, str]]:
    """Every (method, path) that may change something: the route table, plus /openapi.json."""
    import fastapi.routing

    app = client.app.app  # inside conftest's AsPeer
    found: set[tuple[str, str]] = set()
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    routes = iterate(app.router.routes) if iterate else app.router.routes  # type: ignore[attr-defined]
    for route in routes:
        for method in getattr(route, "methods", None) or ():
            if method in MUTATING:
                found.add((method, route.path))
    for path, ops in client.get("/openapi.json").json()["paths"].items():
        found.update((op.upper(), path) for op in ops if op.upper() in MUTATING)
    return found


@pytest.fixture(params=["foreign user", "unknown caller"])
def attacker(request: pytest.FixtureRequest, service: RegistryService,
             settings: Settings) -> Iterator[TestClient]:
    uid = stranger_uid() if request.param == "foreign user" else None
    with in_process_client(service, settings, uid) as client:
        yield client


def test_every_mutating_route_has_an_attack(attacker: TestClient) -> None:
    routes = mutating_routes(attacker)
    missing = sorted(routes - set(ATTACKS))
    assert not missing, (
        f"mutating routes without an entry in ATTACKS: {missing}; add the request a foreign"
        " user would send, and make the route ask the service's Authorization")
    assert not set(ATTACKS) - routes, "ATTACKS names routes the app no longer has"


@pytest.mark.parametrize("route", sorted(ATTACKS), ids=lambda r: f"{r[0]} {r[1]}")
def test_a_foreign_caller_gets_403_and_nothing_changes(
        attacker: TestClient, service: RegistryService, victim: dict[str, int],
        route: tuple[str, str]) -> None:
    method, template = route
    spec = ATTACKS[route](victim)
    before = service.list()
    log_before = service.log()
    path = template.format(**spec.get("path", {}))
    r = attacker.request(method, path, params=spec.get("params"), json=spec.get("json"))
    assert r.status_code == 403, (route, r.status_code, r.text)
    body = r.json()
    assert body["code"] == "permission_denied", body
    assert "root or root" not in body["message"]
    assert service.list() == before
    assert service.log() == log_before


def test_the_stranger_is_not_an_admin_and_root_is(service: RegistryService) -> None:
    stranger = Actor(pwd.getpwuid(stranger_uid()).pw_name if _has_user(stranger_uid())
                     else "stranger", uid=stranger_uid(), via="tcp")
    assert not service.is_admin(stranger)
    assert service.is_admin(ROOT)
    assert service.is_admin(Actor("me", uid=os.geteuid(), via="unix"))  # the server's own user


def _has_user(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True
