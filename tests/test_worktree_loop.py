"""The worktree loop with real git worktrees, a real server and the real compose CLI:
git worktree add -> portctl up -> docker compose config -> git worktree remove -> portctl prune."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import ServerProc, make_server
from test_project_cli import distinct_free_ports
from test_run import private_pool
from worktree_helpers import add_worktree, compose_config, git, make_repo, published


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProc]:
    server = make_server(tmp_path_factory.mktemp("loop"), config=private_pool()).start()
    try:
        yield server
    finally:
        server.stop()


def compose_text(web: int, dns: int, lo: int, admin: int) -> str:
    """Literal ports in every form: short, long, a range, host IPs, udp."""
    return f"""\
services:
  web:
    image: nginx
    ports:
      - "{web}:80"
      - target: 443
        published: "{admin}"
        host_ip: 127.0.0.1
        protocol: tcp
  dns:
    image: coredns
    ports:
      - "127.0.0.1:{dns}:53/udp"
  relay:
    image: relay
    ports:
      - "{lo}-{lo + 1}:7000-7001"
  db:
    image: postgres
    ports:
      - "${{PG_PORT:-5432}}:5432"
"""


def up(srv: ServerProc, folder: Path, *args: str) -> dict[str, dict[str, Any]]:
    r = srv.portctl("up", *args, "--json", cwd=folder)
    assert r.returncode == 0, r.stderr
    return {o["service"]: o for o in json.loads(r.stdout)}


def env_of(folder: Path) -> dict[str, str]:
    lines = (folder / ".env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def allocations(srv: ServerProc, **query: str) -> list[dict[str, Any]]:
    args = [x for k, v in query.items() for x in (f"--{k}", v)]
    r = srv.portctl("list", "--json", *args)
    assert r.returncode == 0, r.stderr
    return list(json.loads(r.stdout))


def test_each_worktree_gets_its_own_ports_through_a_generated_override(
        srv: ServerProc, tmp_path: Path) -> None:
    web, dns, lo, admin = distinct_free_ports(4)
    while lo + 1 in (web, dns, admin):
        web, dns, lo, admin = distinct_free_ports(4)
    compose = compose_text(web, dns, lo, admin)
    repo = make_repo(tmp_path, "shop", {"compose.yaml": compose,
                                        ".gitignore": ".env\ncompose.override.yaml\n"})
    first = up(srv, repo)
    # The main worktree is named after its folder, and records it.
    assert {a["instance"] for a in allocations(srv, app="shop")} == {"shop"}
    assert {a["path"] for a in allocations(srv, app="shop")} == {str(repo.resolve())}
    assert first["web-80"]["port"] == web  # free: kept as written
    env_main = env_of(repo)
    assert env_main["COMPOSE_PROJECT_NAME"] == "shop"
    assert (repo / "compose.override.yaml").is_file()
    # A branch switch changes nothing: same instance, same ports, same .env.
    git("checkout", "-q", "-b", "feature/login-page", cwd=repo)
    again = up(srv, repo)
    assert {o["status"] for o in again.values()} == {"already allocated"}
    assert env_of(repo) == env_main

    wt = add_worktree(repo, tmp_path / "shop-payments", "payments")
    second = up(srv, wt)
    assert {a["path"] for a in allocations(srv, app="shop", instance="shop-payments")} == {
        str(wt.resolve())}
    env_wt = env_of(wt)
    assert env_wt["COMPOSE_PROJECT_NAME"] == "shop-payments"
    ports_main = {s: o["port"] for s, o in first.items()}
    ports_wt = {s: o["port"] for s, o in second.items()}
    assert not set(ports_main.values()) & set(ports_wt.values())
    # up never edits tracked files: the compose file is as committed in both worktrees.
    for folder in (repo, wt):
        assert git("status", "--porcelain", "--untracked-files=no", cwd=folder) == ""
    # What compose would run, per worktree, with the real compose CLI.
    for folder, ports, name in ((repo, ports_main, "shop"), (wt, ports_wt, "shop-payments")):
        config = compose_config(folder)
        assert config["name"] == name
        assert published(config, "web") == sorted([
            (str(ports["web-80"]), 80, "tcp", ""),
            (str(ports["web-443"]), 443, "tcp", "127.0.0.1")])
        assert published(config, "dns") == [(str(ports["dns"]), 53, "udp", "127.0.0.1")]
        assert published(config, "relay") == sorted([
            (str(ports["relay-7000"]), 7000, "tcp", ""),
            (str(ports["relay-7001"]), 7001, "tcp", "")])
        assert published(config, "db") == [(str(ports["db"]), 5432, "tcp", "")]
    # The path is in every output: JSON above, the table and CSV.
    table = srv.portctl("list", "--app", "shop").stdout
    assert "PATH" in table.splitlines()[0] and str(wt.resolve()) in table
    rows = list(csv.DictReader(io.StringIO(srv.portctl("list", "--csv", "--app", "shop").stdout)))
    assert {r["path"] for r in rows} == {str(repo.resolve()), str(wt.resolve())}


def test_a_project_override_stays_and_compose_file_lists_ours(srv: ServerProc,
                                                             tmp_path: Path) -> None:
    (web,) = distinct_free_ports(1)
    repo = make_repo(tmp_path, "blog", {
        "docker-compose.yml": f"services:\n  web:\n    image: nginx\n    ports: ['{web}:80']\n",
        "compose.override.yaml": "services:\n  web:\n    environment: {DEBUG: '1'}\n",
        ".env": "COMPOSE_PROJECT_NAME=blog\n"})
    wt = add_worktree(repo, tmp_path / "blog-draft", "draft")
    r = srv.portctl("up", cwd=wt)
    assert r.returncode == 0, r.stderr
    # A constant project name (here from a tracked .env) is shared by every worktree: warned.
    assert "COMPOSE_PROJECT_NAME=blog is set in .env" in r.stderr
    assert (wt / "compose.override.yaml").read_text() == \
        "services:\n  web:\n    environment: {DEBUG: '1'}\n"
    assert env_of(wt)["COMPOSE_FILE"] == \
        "docker-compose.yml:compose.override.yaml:compose.portctl.yaml"
    port = allocations(srv, app="blog", instance="blog-draft")[0]["port"]
    config = compose_config(wt)
    assert published(config, "web") == [(str(port), 80, "tcp", "")]
    assert config["services"]["web"]["environment"] == {"DEBUG": "1"}
    # A second up rewrites its own file; a foreign file of that name is never overwritten.
    assert srv.portctl("up", cwd=wt).returncode == 0
    (wt / "compose.portctl.yaml").write_text("services: {}\n")
    before = allocations(srv, app="blog")
    srv.portctl("down", cwd=wt)
    r = srv.portctl("up", cwd=wt)
    assert r.returncode == 2 and "was not written by portctl" in r.stderr
    assert allocations(srv, app="blog") == []  # refused before anything changed
    assert (wt / "compose.portctl.yaml").read_text() == "services: {}\n"
    assert before


def test_a_literal_port_no_override_can_reach_is_a_conflict(srv: ServerProc,
                                                              tmp_path: Path) -> None:
    (pg,) = distinct_free_ports(1)
    compose = f"services:\n  db:\n    image: x\n    ports: ['${{BIND:-127.0.0.1}}:{pg}:5432']\n"
    repo = make_repo(tmp_path, "bar", {"compose.yaml": compose})
    wt = add_worktree(repo, tmp_path / "bar-two", "two")
    assert up(srv, repo)["db"]["port"] == pg
    r = srv.portctl("up", "--json", cwd=wt)
    assert r.returncode == 1
    (outcome,) = json.loads(r.stdout)
    assert outcome["status"] == "conflict" and outcome["variable"] == ""
    assert not (wt / "compose.override.yaml").exists()


def test_down_then_prune_after_git_worktree_remove(srv: ServerProc, tmp_path: Path) -> None:
    compose = "services:\n  api:\n    image: x\n    ports: ['${API_PORT:-8000}:8000']\n"
    repo = make_repo(tmp_path, "cart", {"compose.yaml": compose})
    one = add_worktree(repo, tmp_path / "cart-one", "one")
    two = add_worktree(repo, tmp_path / "cart-two", "two")
    for folder in (repo, one, two):
        up(srv, folder)
    assert len(allocations(srv, app="cart")) == 3
    # down: the reverse of up, for one checkout only.
    r = srv.portctl("down", "--dry-run", cwd=one)
    assert "would release" in r.stdout and len(allocations(srv, app="cart")) == 3
    r = srv.portctl("down", cwd=one)
    assert r.returncode == 0 and "released" in r.stdout
    assert {a["instance"] for a in allocations(srv, app="cart")} == {"cart", "cart-two"}
    up(srv, one)
    # Remove one worktree the git way, and unregister the other behind git's back.
    git("worktree", "remove", str(one), cwd=repo)
    admin = Path(git("rev-parse", "--git-common-dir", cwd=two).strip())
    admin = (two / admin if not admin.is_absolute() else admin) / "worktrees" / "cart-two"
    for item in sorted(admin.rglob("*"), reverse=True):
        item.unlink() if item.is_file() else item.rmdir()
    admin.rmdir()
    r = srv.portctl("prune", "--dry-run", "--json")
    planned = json.loads(r.stdout)["released"]
    assert {p["key"] for p in planned} == {"cart/cart-one/api", "cart/cart-two/api"}
    assert len(allocations(srv, app="cart")) == 3  # a dry run changes nothing
    r = srv.portctl("prune")
    assert r.returncode == 0, r.stderr
    assert "cart/cart-one/api" in r.stdout and "is gone" in r.stdout
    assert [a["instance"] for a in allocations(srv, app="cart")] == ["cart"]
    assert "nothing to prune" in srv.portctl("prune").stdout
