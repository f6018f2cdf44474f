"""Proxy names, the route table and Caddy's config, pure; and the ``http`` field in the service."""

from __future__ import annotations

from typing import Any

import pytest

from port_server.errors import InvalidInput, NameTaken
from port_server.integrations import caddy_routes, proxy_names
from port_server.models import Allocation, AllocationRequest
from port_server.proxy_files import BEGIN, END, merge_hosts
from port_server.service import RegistryService


def alloc(id: int, app: str, instance: str, service: str, port: int = 3001,
          **kw: Any) -> Allocation:
    kw.setdefault("http", True)
    kw.setdefault("host", "me")
    return Allocation(id=id, app=app, instance=instance, service=service, port=port,
                      created_at="", **kw)


@pytest.mark.parametrize(("text", "label"), [
    ("Web", "web"), ("my_web", "my-web"), ("feature.x", "feature-x"), ("api-", "api"),
    ("café", "xn--caf-dma"), ("a" * 63, "a" * 63),
])
def test_dns_label_folds_to_a_safe_label(text: str, label: str) -> None:
    assert proxy_names.dns_label(text) == label


@pytest.mark.parametrize(("text", "why"), [
    ("ab--cd", "reserved"), ("xn--zz", "punycode"), ("a" * 64, "1-63"), ("__", "1-63"),
])
def test_dns_label_refuses_what_dns_cannot_carry(text: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=why) as err:
        proxy_names.dns_label(text, "service")
    assert err.value.field == "service"
    assert "--no-http" in err.value.message


def test_table_names_services_instances_and_the_main_instance() -> None:
    table = proxy_names.build_table([
        alloc(1, "shop", "main", "web", 3001), alloc(2, "shop", "main", "api", 3002),
        alloc(3, "shop", "feature-x", "web", 3003), alloc(4, "shop", "dev", "db", 5001,
                                                           http=False),
        alloc(5, "blog", "dev", "api", 3005),
    ], "me")
    routes = {r.name: (r.alloc_id, r.kind) for r in table.routes}
    assert routes == {
        "blog.localhost": (5, "app"), "shop.localhost": (1, "app"),
        "dev.blog.localhost": (5, "instance"), "feature-x.shop.localhost": (3, "instance"),
        "main.shop.localhost": (1, "instance"),
        "api.dev.blog.localhost": (5, "service"), "api.main.shop.localhost": (2, "service"),
        "web.feature-x.shop.localhost": (3, "service"), "web.main.shop.localhost": (1, "service"),
    }
    assert table.routes[0].upstream in ("localhost:3005", "localhost:3001")
    assert not table.problems


def test_table_collision_keeps_the_older_and_reports_the_newer() -> None:
    table = proxy_names.build_table([alloc(2, "shop", "dev", "my-web", 3002),
                                     alloc(1, "shop", "dev", "my_web", 3001)], "me")
    assert table.name_of(1) == "my-web.dev.shop.localhost"
    assert table.name_of(2) is None
    assert "already names allocation 1" in table.problems[0]


def test_other_hosts_only_with_all_hosts() -> None:
    allocs = [alloc(1, "shop", "dev", "web", host="me"), alloc(2, "shop", "dev", "web",
                                                               host="box2", port=3002)]
    assert proxy_names.build_table(allocs, "me").names() == [
        "shop.localhost", "dev.shop.localhost", "web.dev.shop.localhost"]
    team = proxy_names.build_table(allocs, "me", all_hosts=True)
    remote = next(r for r in team.routes if r.name == "web.dev.shop.box2.localhost")
    assert remote.upstream == "box2:3002"


def test_find_collision_covers_app_instance_and_service_spellings() -> None:
    existing = [alloc(1, "shop", "dev", "web"), alloc(2, "blog", "main", "web", http=False)]
    assert proxy_names.find_collision(alloc(0, "Shop", "x", "web"), existing, "me")[0] == (
        "shop.localhost")
    assert proxy_names.find_collision(alloc(0, "shop", "DEV", "api"), existing, "me")[0] == (
        "dev.shop.localhost")
    assert proxy_names.find_collision(alloc(0, "shop", "dev", "Web"), existing, "me")[0] == (
        "web.dev.shop.localhost")
    assert proxy_names.find_collision(alloc(0, "Blog", "main", "web"), existing, "me") is None
    assert proxy_names.find_collision(alloc(0, "shop", "dev", "api"), existing, "me") is None


def test_caddy_config_listens_on_loopback_redirects_and_lists_names() -> None:
    table = proxy_names.build_table([alloc(1, "shop", "dev", "web", 3001)], "me")
    opts = caddy_routes.ProxyOptions(admin="unix//tmp/a.sock", storage="/tmp/s",
                                     https_port=2443, http_port=2080, bind=("127.0.0.1", "::1"))
    config = caddy_routes.build_config(table, opts)
    servers = config["apps"]["http"]["servers"]
    main = servers[caddy_routes.SERVER]
    assert main["listen"] == ["127.0.0.1:2443", "[::1]:2443"]
    index, lookup, unknown, proxy = main["routes"]
    assert index["match"] == [{"host": ["localhost"]}]
    assert {"input": "web.dev.shop.localhost", "outputs": ["localhost:3001"]} in (
        lookup["handle"][0]["mappings"])
    assert unknown["handle"][0]["status_code"] == 404
    assert "web.dev.shop.localhost" in unknown["handle"][0]["body"]
    assert proxy["handle"][0]["upstreams"] == [{"dial": caddy_routes.UPSTREAM}]
    redirect = servers[caddy_routes.REDIRECT_SERVER]
    assert redirect["listen"] == ["127.0.0.1:2080", "[::1]:2080"]
    location = redirect["routes"][0]["handle"][0]["headers"]["Location"][0]
    assert location == "https://{http.request.host}:2443{http.request.uri}"
    assert config["apps"]["pki"]["certificate_authorities"]["local"]["install_trust"] is False
    plain = caddy_routes.build_config(table, opts.replace(https=False))
    assert "tls" not in plain["apps"] and caddy_routes.REDIRECT_SERVER not in (
        plain["apps"]["http"]["servers"])


def test_hosts_block_replaced_in_place_and_removed() -> None:
    text = "127.0.0.1 localhost\n"
    once = merge_hosts(text, ["a.localhost"])
    assert once == f"127.0.0.1 localhost\n{BEGIN}\n127.0.0.1 a.localhost\n{END}\n"
    assert merge_hosts(once, ["b.localhost"]).count(BEGIN) == 1
    assert merge_hosts(once, []) == text


def test_service_marks_http_by_pool_and_refuses_collisions(service: RegistryService) -> None:
    web = service.allocate(AllocationRequest(app="shop", instance="dev", service="web",
                                             type="web")).allocation
    db = service.allocate(AllocationRequest(app="shop", instance="dev", service="db",
                                            type="db")).allocation
    plain = service.allocate(AllocationRequest(app="shop", instance="dev", service="x")
                             ).allocation
    forced = service.allocate(AllocationRequest(app="shop", instance="dev", service="y",
                                                http=True)).allocation
    assert (web.http, db.http, plain.http, forced.http) == (True, False, False, True)
    with pytest.raises(NameTaken, match=r"web\.dev\.shop\.localhost") as err:
        service.allocate(AllocationRequest(app="shop", instance="dev", service="WEB",
                                           type="web"))
    assert err.value.extra["holder"]["id"] == web.id
    assert service.update(db.id, {"http": True}).http is True
    with pytest.raises(InvalidInput, match="http: must be true or false"):
        service.update(db.id, {"http": "yes"})


def test_listeners_hear_committed_changes_only(service: RegistryService) -> None:
    heard: list[int] = []
    service.add_listener(lambda: heard.append(1))
    a = service.allocate(AllocationRequest(app="shop", instance="dev", service="web"))
    assert len(heard) == 1
    service.allocate(AllocationRequest(app="shop", instance="dev", service="web"))  # same
    assert len(heard) == 1
    with pytest.raises(InvalidInput):
        service.update(a.allocation.id, {"port": 1})
    assert len(heard) == 1
    service.release_id(a.allocation.id)
    assert len(heard) == 2


def test_app_name_follows_the_main_worktree(tmp_path: Any) -> None:
    from port_server.server.proxy_os import main_worktree_checker

    main, linked = tmp_path / "shop", tmp_path / "shop-feature"
    (main / ".git").mkdir(parents=True)
    linked.mkdir()
    (linked / ".git").write_text(f"gitdir: {main}/.git/worktrees/shop-feature\n")
    allocs = [alloc(1, "shop", "feature", "web", 3001, path=str(linked)),
              alloc(2, "shop", "shop", "web", 3002, path=str(main))]
    table = proxy_names.build_table(allocs, "me", is_main=main_worktree_checker())
    assert {r.name: r.alloc_id for r in table.routes}["shop.localhost"] == 2
    # Without recorded paths: the instance named main/master/default, else the app's only one.
    table = proxy_names.build_table([alloc(1, "shop", "feature", "web"),
                                     alloc(2, "shop", "main", "web", 3002)], "me")
    assert {r.name: r.alloc_id for r in table.routes}["shop.localhost"] == 2
    table = proxy_names.build_table([alloc(1, "shop", "a", "web"),
                                     alloc(2, "shop", "b", "web", 3002)], "me")
    assert "shop.localhost" not in table.names()
