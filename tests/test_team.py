"""Many hosts and many servers on one PostgreSQL registry: per-host views and uniqueness, --force
for another host's allocations, and concurrent servers that never hand out a port twice."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO, ServerProc, make_server
from port_server.errors import OtherHost

WORKER = REPO / "tests" / "workers" / "alloc_worker.py"


def spawn(server: ServerProc, app: str, count: int, out: Path,
          *flags: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(WORKER), server.addr, app, str(count), str(out),
                             *flags], env=server.env)


def records(paths: list[Path]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in paths:
        if path.exists():
            out += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return out


def start_servers(tmp: Path, url: str, host_ids: list[str]) -> list[ServerProc]:
    servers = []
    for i, host_id in enumerate(host_ids):
        srv = make_server(tmp / f"s{i}", ["--store", url, "--host-id", host_id])
        servers.append(srv.start())
    return servers


@pytest.fixture
def two_hosts(tmp_path: Path, pg_cluster: Any) -> Iterator[list[ServerProc]]:
    servers = start_servers(tmp_path, pg_cluster.new_database(), ["alpha", "beta"])
    yield servers
    for srv in servers:
        srv.stop()


def allocate(srv: ServerProc, service: str, app: str = "shop") -> dict[str, Any]:
    r = srv.portctl("allocate", "--app", app, "--instance", "main", "--service", service,
                    "--json")
    assert r.returncode == 0, r.stderr
    data: dict[str, Any] = json.loads(r.stdout)
    return data


def test_each_host_sees_its_own_and_can_look_at_others(two_hosts: list[ServerProc]) -> None:
    alpha, beta = two_hosts
    a_web, b_web = allocate(alpha, "web"), allocate(beta, "web")  # same key, two hosts
    a_db = allocate(alpha, "db")
    assert a_web["host"] == "alpha" and b_web["host"] == "beta"
    assert a_web["id"] != b_web["id"]
    own = json.loads(alpha.portctl("list", "--json").stdout)
    assert [a["id"] for a in own] == [a_web["id"], a_db["id"]]
    theirs = json.loads(alpha.portctl("list", "--host", "beta", "--json").stdout)
    assert [a["id"] for a in theirs] == [b_web["id"]]
    every = json.loads(beta.portctl("list", "--all-hosts", "--json").stdout)
    assert sorted(a["id"] for a in every) == sorted([a_web["id"], a_db["id"], b_web["id"]])
    table = alpha.portctl("list", "--all-hosts").stdout.splitlines()
    assert table[0].split()[0] == "HOST"
    assert sorted(line.split()[0] for line in table[1:]) == ["alpha", "alpha", "beta"]
    assert alpha.portctl("list", "--host", "x", "--all-hosts").returncode == 2


def test_other_hosts_allocations_change_only_with_force(two_hosts: list[ServerProc]) -> None:
    alpha, beta = two_hosts
    b_web = allocate(beta, "web")
    allocate(beta, "db")
    r = alpha.portctl("release", "--id", str(b_web["id"]))
    assert r.returncode == 1
    assert "belongs to host 'beta'" in r.stderr and "--force" in r.stderr
    r = alpha.portctl("release", "--host", "beta", "--app", "shop")
    assert r.returncode == 1 and "--force" in r.stderr
    r = alpha.portctl("update", "--id", str(b_web["id"]), "--note", "x")
    assert r.returncode == 1 and "belongs to host 'beta'" in r.stderr
    r = alpha.portctl("update", "--id", str(b_web["id"]), "--note", "x", "--force")
    assert r.returncode == 0, r.stderr
    with alpha.client() as client:
        with pytest.raises(OtherHost):
            client.update(b_web["id"], {"note": "from alpha"})
        assert client.update(b_web["id"], {"note": "from alpha"}, force=True).note == "from alpha"
    assert len(json.loads(beta.portctl("list", "--json").stdout)) == 2  # nothing released
    r = alpha.portctl("release", "--id", str(b_web["id"]), "--force")
    assert r.returncode == 0, r.stderr
    r = alpha.portctl("release", "--host", "beta", "--service", "db", "--force", "--json")
    assert r.returncode == 0 and [a["service"] for a in json.loads(r.stdout)] == ["db"]
    assert json.loads(beta.portctl("list", "--json").stdout) == []
    # A host-only filter is still "everything" for that host: refused like an empty filter.
    with alpha.client() as client, pytest.raises(Exception, match="empty filter"):
        from port_server.models import AllocationFilter

        client.release(AllocationFilter(host="beta"), force=True)


def run_workers(plan: list[tuple[ServerProc, str]], count: int, tmp: Path) -> list[Path]:
    outs = [tmp / f"w{i}.jsonl" for i in range(len(plan))]
    procs = [spawn(srv, app, count, out) for (srv, app), out in zip(plan, outs, strict=True)]
    for proc in procs:
        assert proc.wait(timeout=180) == 0
    return outs


def test_two_servers_one_host_16_clients_no_duplicate(tmp_path: Path, pg_cluster: Any) -> None:
    servers = start_servers(tmp_path, pg_cluster.new_database(), ["same", "same"])
    try:
        plan = [(servers[i % 2], f"app{i}") for i in range(16)]
        got = records(run_workers(plan, 8, tmp_path))
        assert [r for r in got if "error" in r] == []
        assert len(got) == 16 * 8
        ports = [r["port"] for r in got]
        assert len(set(ports)) == len(ports)
        with servers[0].client() as client:
            registry = {(a.id, a.port, a.key) for a in client.list()}
        assert {(r["id"], r["port"], r["key"]) for r in got} == registry
    finally:
        for srv in servers:
            srv.stop()


def test_two_host_ids_each_get_their_own_ports(tmp_path: Path, pg_cluster: Any) -> None:
    servers = start_servers(tmp_path, pg_cluster.new_database(), ["east", "west"])
    try:
        # The same app names on both hosts, all at once.
        plan = [(servers[i % 2], f"app{i // 2}") for i in range(8)]
        outs = run_workers(plan, 8, tmp_path)
        by_host = {"east": records(outs[0::2]), "west": records(outs[1::2])}
        for got in by_host.values():
            assert [r for r in got if "error" in r] == []
            assert len(got) == 32
            ports = [r["port"] for r in got]
            assert len(set(ports)) == 32  # unique within the host
        east = {r["port"] for r in by_host["east"]}
        west = {r["port"] for r in by_host["west"]}
        assert east & west  # the hosts draw from their own ranges independently
        with servers[0].client() as client:
            from port_server.models import AllocationFilter

            every = client.list(AllocationFilter(host="*"))
        assert sorted(a.port for a in every if a.host == "east") == sorted(east)
        assert sorted(a.port for a in every if a.host == "west") == sorted(west)
    finally:
        for srv in servers:
            srv.stop()


def test_kill_9_mid_allocation_loses_nothing_and_frees_the_host_lock(
        tmp_path: Path, pg_cluster: Any) -> None:
    doomed, survivor = start_servers(tmp_path, pg_cluster.new_database(), ["same", "same"])
    try:
        outs = [tmp_path / f"k{i}.jsonl" for i in range(6)]
        procs = [spawn(doomed if i < 4 else survivor, f"k{i}", 10_000, out, "--until-error")
                 for i, out in enumerate(outs)]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(records(outs[:4])) < 40:
            time.sleep(0.02)
        doomed.kill9()
        for proc in procs[:4]:
            assert proc.wait(timeout=60) == 0
        procs[4].terminate()
        procs[5].terminate()
        for proc in procs[4:]:
            proc.wait(timeout=30)
        acked = [r for r in records(outs) if "error" not in r]
        assert len(acked) >= 40
        # The survivor still allocates: the dead server's lock went with its connection.
        fresh = allocate(survivor, "after-kill")
        with survivor.client() as client:
            registry = {(a.id, a.port, a.key) for a in client.list()}
        missing = [r for r in acked if (r["id"], r["port"], r["key"]) not in registry]
        assert missing == []
        ports = [p for _, p, _ in registry]
        assert len(ports) == len(set(ports))
        assert fresh["port"] in ports
    finally:
        doomed.stop()
        survivor.stop()
