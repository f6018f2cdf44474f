"""The pure parts of Dokploy sync, in process: compose ports, shapes, the sync plan applied by the
real service on real SQLite, the sync endpoint's validation, and the nginx exporter (nginx -t)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fake_dokploy import API_KEY, FakeDokploy
from nginx_check import nginx_t
from port_server.errors import InvalidInput, PortAllocated, UpstreamError
from port_server.exporters.nginx_conf import ProxyRoute, render
from port_server.integrations.compose_ports import compose_host_ports
from port_server.integrations.dokploy import enumerate_services
from port_server.integrations.dokploy_client import DokployClient
from port_server.models import AllocationFilter, AllocationRequest
from port_server.service import RegistryService


def test_compose_host_ports_only_fixed_bindings() -> None:
    yaml_text = """
services:
  web:
    ports: ["8082:8000", "127.0.0.1:9001:9000", "[::1]:9002:9000/udp", "9100", "127.0.0.1::80",
            "${WEB_PORT:-7000}:70", "${NOPE}:71", "7100-7101:8100-8101"]
  long:
    ports: [{target: 80, published: "8088"}, {target: 81}]
  hostnet:
    network_mode: host
  leaky:
    ports: ["${DB_PASSWORD}:5432"]
"""
    ports, notes = compose_host_ports(yaml_text, "WEB_PORT=7001\nDB_PASSWORD=hunter2-secret")
    assert [(p.service, p.published, p.target, p.protocol) for p in ports] == [
        ("web", 8082, 8000, "tcp"), ("web", 9001, 9000, "tcp"), ("web", 9002, 9000, "udp"),
        ("web", 7001, 70, "tcp"), ("web", 7100, 8100, "tcp"), ("web", 7101, 8101, "tcp"),
        ("long", 8088, 80, "tcp")]
    assert any("${NOPE}" in n for n in notes) and any("hostnet" in n for n in notes)
    assert any("service leaky" in n for n in notes)
    assert "hunter2-secret" not in " ".join(notes)
    bad = compose_host_ports("services:\n  a: {ports: ['hunter2-secret: [']}\n  b: [", "")
    assert bad == ([], ["the compose file is not valid YAML"])


@pytest.mark.parametrize("answer", [
    {"projects": []}, [{"name": "p"}], [{"name": "p", "environments": [{"id": 1}]}],
    [{"name": "p", "environments": [{"name": "e", "applications": [{"name": "x"}]}]}],
    [{"name": "p", "applications": "nope"}], "v0.30.2",
])
def test_unknown_project_all_shapes_are_errors(answer: Any) -> None:
    with pytest.raises(UpstreamError, match=r"^Dokploy GET /api/project.all: unknown answer"):
        enumerate_services(answer)


def test_client_errors_never_quote_the_body() -> None:
    fake = FakeDokploy("slim")
    fake.faults["project.all"] = ("body", {"password": "leaky-secret"})
    fake.faults["settings.getDokployVersion"] = ("status", 503)
    fake.start()
    try:
        client = DokployClient(fake.url, API_KEY, timeout=5)
        with pytest.raises(UpstreamError) as info:
            client.get("settings.getDokployVersion")
        assert info.value.message == ("Dokploy GET /api/settings.getDokployVersion: answered"
                                      " HTTP 503")
        with pytest.raises(UpstreamError) as info:
            enumerate_services(client.get("project.all"))
        assert "leaky-secret" not in info.value.message
        assert API_KEY not in repr(client)
    finally:
        fake.stop()


# -- the plan, applied by the real service --------------------------------------------------

def want(service: str, port: int, app: str = "p", **kw: Any) -> AllocationRequest:
    return AllocationRequest(app=app, instance="prod", service=service, port=port,
                             source="dokploy", **kw)


def ports(service: RegistryService) -> dict[str, tuple[int, str]]:
    return {a.key: (a.port, a.source) for a in service.list()}


def test_sync_swaps_ports_between_dokploy_services(service: RegistryService) -> None:
    plan = service.sync("dokploy", [want("a", 4001), want("b", 4002)])
    assert [it.action for it in plan] == ["add", "add"]
    plan = service.sync("dokploy", [want("a", 4002), want("b", 4001)])
    assert [it.action for it in plan] == ["update", "update"]
    assert ports(service) == {"p/prod/a": (4002, "dokploy"), "p/prod/b": (4001, "dokploy")}


def test_sync_blocked_chain_becomes_conflict(service: RegistryService) -> None:
    service.sync("dokploy", [want("a", 4001), want("b", 4002)])
    service.allocate(AllocationRequest(app="m", instance="i", service="s", port=4003, force=True))
    # a wants 4003 (held by hand) so it stays on 4001; b wants a's 4001, so it cannot move.
    plan = service.sync("dokploy", [want("a", 4003), want("b", 4001)], dry_run=True)
    assert [(it.action, it.service) for it in plan] == [("conflict", "a"), ("conflict", "b")]
    assert "p/prod/a" in plan[1].detail
    applied = service.sync("dokploy", [want("a", 4003), want("b", 4001)])
    assert [it.action for it in applied] == ["conflict", "conflict"]
    assert ports(service) == {"p/prod/a": (4001, "dokploy"), "p/prod/b": (4002, "dokploy"),
                              "m/i/s": (4003, "manual")}


def test_sync_duplicates_and_protocols(service: RegistryService) -> None:
    plan = service.sync("dokploy", [want("a", 4001), want("b", 4001),
                                    want("c", 4001, protocol="udp"), want("a", 4005)])
    assert [it.action for it in plan] == ["add", "conflict", "add", "conflict"]
    assert "also published by p/prod/a" in plan[1].detail
    assert "listed twice" in plan[3].detail


def test_sync_metadata_update_and_remove(service: RegistryService) -> None:
    service.sync("dokploy", [want("a", 4001, status="active"), want("b", 4002)])
    first = {a.key: a for a in service.list()}
    plan = service.sync("dokploy", [want("a", 4001, status="error", url="http://a.example")])
    assert [(it.action, it.service) for it in plan] == [("update", "a"), ("remove", "b")]
    assert plan[0].changes == {"status": ["active", "error"], "url": ["", "http://a.example"]}
    now = {a.key: a for a in service.list()}
    assert set(now) == {"p/prod/a"}
    assert now["p/prod/a"].id == first["p/prod/a"].id and now["p/prod/a"].status == "error"


def test_sync_rejects_bad_input_and_changes_nothing(service: RegistryService) -> None:
    service.sync("dokploy", [want("a", 4001)])
    with pytest.raises(InvalidInput, match=r"allocations\[1\]\.service"):
        service.sync("dokploy", [want("b", 4002), want("bad name", 4003)])
    with pytest.raises(InvalidInput, match=r"allocations\[0\]\.source"):
        service.sync("dokploy", [AllocationRequest(app="p", instance="i", service="x",
                                                   port=4004)])
    assert ports(service) == {"p/prod/a": (4001, "dokploy")}


def test_a_failure_while_applying_changes_nothing(service: RegistryService,
                                                 fresh_store: Any) -> None:
    """A real SQLite trigger refuses one insert after the removals and updates already ran:
    the whole sync rolls back."""
    import sqlite3

    service.sync("dokploy", [want("a", 4001), want("b", 4002, status="x"), want("c", 4003)])
    before = service.list()
    conn = sqlite3.connect(fresh_store.path)
    conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON allocations WHEN NEW.service = 'boom'"
                 " BEGIN SELECT RAISE(ABORT, 'refused by test'); END")
    conn.commit()
    conn.close()
    with pytest.raises(PortAllocated):
        service.sync("dokploy", [want("a", 4011), want("b", 4002, status="y"),
                                 want("boom", 4020)])
    assert service.list() == before


def test_sync_into_another_host(service: RegistryService) -> None:
    service.sync("dokploy", [want("edge", 8200)], host="edge-1")
    assert service.list() == []
    assert [a.port for a in service.list(AllocationFilter(host="edge-1"))] == [8200]


# -- the endpoint ---------------------------------------------------------------------------

def test_sync_endpoint_validates_and_takes_large_bodies(api: Any) -> None:
    bad = api.post("/v1/sync/dokploy", json={"allocations": [
        {"app": "p", "instance": "i", "service": "no spaces", "port": 4001}]})
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalid_input"
    assert "allocations[0].service" in bad.json()["message"]
    many = [{"app": "p", "instance": "i", "service": f"s{n}", "port": 20000 + n,
             "note": "n" * 300} for n in range(400)]  # ~150 KiB, above the 64 KiB default
    ok = api.post("/v1/sync/dokploy", json={"allocations": many, "dry_run": True})
    assert ok.status_code == 200, ok.text
    assert ok.json()["summary"]["add"] == 400 and ok.json()["dry_run"] is True
    assert api.get("/v1/allocations").json() == []
    applied = api.post("/v1/sync/dokploy", json={"allocations": many[:3]})
    assert applied.json()["summary"]["add"] == 3
    assert len(api.get("/v1/allocations").json()) == 3


# -- nginx ----------------------------------------------------------------------------------

def test_nginx_skips_hostile_names_and_passes_nginx_t(tmp_path: Path) -> None:
    routes = [
        ProxyRoute("app.example.com", "/", "127.0.0.1", 3005, label="ok; {evil}"),
        ProxyRoute("app.example.com", "/api", "127.0.0.1", 3006, strip_path=True),
        ProxyRoute("app.example.com", "/api", "127.0.0.1", 3007),
        ProxyRoute("*.wild.example.com", "/", "10.0.0.7", 80),
        ProxyRoute("evil.com; include /etc/passwd", "/", "127.0.0.1", 1),
        ProxyRoute("ok.example.com", "/x { return 200; }", "127.0.0.1", 2),
        ProxyRoute("ok2.example.com", "/", "127.0.0.1;", 3),
    ]
    text = render(routes, listen=18090)
    assert text.count("server {") == 2
    assert "proxy_pass http://127.0.0.1:3006/;" in text and "location /api/ {" in text
    assert text.count("# WARNING: skipped") == 4
    for line in text.splitlines():
        if not line.lstrip().startswith("#"):
            assert "passwd" not in line and "return 200" not in line
    checked = nginx_t(tmp_path, text)
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize("kw, field", [
    ({"cert": "/a.crt"}, "cert"), ({"cert": "/a b.crt", "key": "/k"}, "cert"),
    ({"cert": "/a.crt", "key": "/k;x"}, "key"), ({"listen": 0}, "listen"),
])
def test_nginx_rejects_bad_options(kw: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        render([], **kw)
    assert info.value.field == field


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_sync_plan_on_every_store(backend: str, tmp_path: Path, settings: Any,
                                  request: pytest.FixtureRequest) -> None:
    """Swaps, moves and removals apply in one transaction on each backend's constraints."""
    from port_server.store.base import Store

    store: Store
    if backend == "sqlite":
        from port_server.store.sqlite import SQLiteStore

        store = SQLiteStore(tmp_path / "registry.db")
    else:
        from port_server.store.postgres import PostgresStore

        store = PostgresStore(request.getfixturevalue("pg_cluster").new_database())
    try:
        svc = RegistryService(store, settings)
        svc.sync("dokploy", [want("a", 4001), want("b", 4002), want("c", 4003)])
        plan = svc.sync("dokploy", [want("a", 4002), want("b", 4001), want("d", 4003)])
        assert sorted((it.action, it.service) for it in plan) == [
            ("add", "d"), ("remove", "c"), ("update", "a"), ("update", "b")]
        assert ports(svc) == {"p/prod/a": (4002, "dokploy"), "p/prod/b": (4001, "dokploy"),
                              "p/prod/d": (4003, "dokploy")}
    finally:
        store.close()


def test_remote_ipv6_server_is_bracketed() -> None:
    from port_server.integrations.dokploy import Domain, Published, Service, Snapshot
    from port_server.integrations.dokploy_map import proxy_routes

    edge = Service("application", "a1", "api", "P", "prod", "done", server_id="s1",
                   server_name="edge", server_ip="2001:db8::7",
                   ports=(Published(8200, 80),), domains=(Domain("api.example.com", port=80),))
    routes, skipped = proxy_routes(Snapshot("v0.30.2", "slim", (edge,)))
    assert skipped == [] and routes[0].upstream_host == "[2001:db8::7]"
    assert "proxy_pass http://[2001:db8::7]:8200;" in render(routes)
