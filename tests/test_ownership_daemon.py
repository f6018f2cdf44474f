"""Issue 8 against a real port-server: kernel identity (loopback TCP and the Unix socket), two OS
users releasing each other's ports, leases reclaimed by the reaper, the audit log via portctl.

The two-user tests create throwaway OS users and run the real portctl as them; they need root.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import InProcess, ServerProc, make_server
from os_users import portctl_as, throwaway_users
from port_server.client import RegistryClient


def wait_for(predicate: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def two_users() -> Iterator[list[pwd.struct_passwd]]:
    with throwaway_users(2) as users:
        yield users


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProc]:
    tmp = tmp_path_factory.mktemp("own")
    srv = make_server(tmp, config='[security]\nreap_interval = 0.2\n').start()
    try:
        yield srv
    finally:
        srv.stop()


def test_two_os_users_cannot_release_each_others_ports(
        shared_server: ServerProc, two_users: list[pwd.struct_passwd]) -> None:
    louis, hein = two_users
    r = portctl_as(shared_server, louis, "allocate", "--app", "shop", "--instance", "staging",
                   "--service", "web", "--json")
    assert r.returncode == 0, r.stderr
    alloc = json.loads(r.stdout)
    assert alloc["owner"] == louis.pw_name  # from the kernel, not from anything the CLI sent
    who = portctl_as(shared_server, hein, "whoami", "--json")
    assert json.loads(who.stdout) == {"name": hein.pw_name, "uid": hein.pw_uid, "via": "tcp",
                                      "admin": False}
    for args in (["release", "--id", str(alloc["id"])], ["release", "--app", "shop"],
                 ["release", "--port", str(alloc["port"]), "--force"]):
        r = portctl_as(shared_server, hein, *args)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        assert r.stderr.startswith(
            f"error: permission denied: port {alloc['port']} is owned by {louis.pw_name}"), r.stderr
    with RegistryClient(shared_server.addr) as client:  # root, over TCP
        assert client.get(alloc["id"]).owner == louis.pw_name
    # the owner may release it
    r = portctl_as(shared_server, louis, "release", "--id", str(alloc["id"]))
    assert r.returncode == 0, r.stderr
    # and root may release anyone's
    r = portctl_as(shared_server, hein, "allocate", "--app", "shop", "--instance", "dev",
                   "--service", "api", "--json")
    hein_alloc = json.loads(r.stdout)
    r = portctl_as(shared_server, None, "release", "--id", str(hein_alloc["id"]))
    assert r.returncode == 0, r.stderr
    log = json.loads(portctl_as(shared_server, None, "log", "--app", "shop", "--json").stdout)
    assert [(e["action"], e["actor"]) for e in log] == [
        ("allocate", louis.pw_name), ("release", louis.pw_name),
        ("allocate", hein.pw_name), ("release", "root")]
    assert log[0]["actor_uid"] == louis.pw_uid


def test_unix_socket_identity_and_cli_preference(tmp_path: Path,
                                                 two_users: list[pwd.struct_passwd]) -> None:
    louis, _ = two_users
    sockdir = Path(f"/tmp/ps-sock-{secrets.token_hex(4)}")
    sockdir.mkdir(mode=0o711)
    sock = sockdir / "port-server.sock"
    group = __import__("grp").getgrgid(louis.pw_gid).gr_name
    srv = make_server(tmp_path, args=["--unix-socket", str(sock)],
                      config=f'[security]\nsocket_group = "{group}"\n').start()
    try:
        st = sock.stat()
        assert oct(st.st_mode & 0o777) == "0o660" and st.st_gid == louis.pw_gid
        with RegistryClient(f"unix:{sock}") as client:
            assert client.whoami() == {"name": "root", "uid": 0, "via": "unix", "admin": True}
        # portctl prefers the socket when no address was set explicitly
        env = {k: v for k, v in srv.env.items() if k != "PORT_SERVER_ADDR"}
        env["XDG_RUNTIME_DIR"] = str(sockdir)
        r = portctl_as(env, louis, "whoami", "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["via"] == "unix"
        assert json.loads(r.stdout)["uid"] == louis.pw_uid
    finally:
        srv.stop()
        sockdir.joinpath("port-server.sock").unlink(missing_ok=True)
        sockdir.rmdir()
    assert not sock.exists()  # removed on shutdown


def test_ttl_lease_expires_and_reaper_logs_it(shared_server: ServerProc) -> None:
    r = shared_server.portctl("allocate", "--app", "lease", "--instance", "i", "--service",
                              "short", "--ttl", "1s", "--json")
    assert r.returncode == 0, r.stderr
    short = json.loads(r.stdout)
    assert short["expires_at"] is not None
    r = shared_server.portctl("allocate", "--app", "lease", "--instance", "i", "--service",
                              "renewed", "--ttl", "1s", "--json")
    renewed = json.loads(r.stdout)
    assert shared_server.portctl("renew", "--id", str(renewed["id"]), "--ttl", "1h"
                                 ).returncode == 0
    shared_server.portctl("allocate", "--app", "lease", "--instance", "i", "--service", "kept")

    def services() -> set[str]:
        with shared_server.client() as c:
            return {a.service for a in c.list() if a.app == "lease"}

    assert wait_for(lambda: "short" not in services())
    assert services() == {"renewed", "kept"}
    assert f"reclaimed port {short['port']} (id={short['id']})" in shared_server.log_text()
    log = json.loads(shared_server.portctl("log", "--port", str(short["port"]), "--action",
                                           "reclaim", "--json").stdout)
    assert [(e["alloc_id"], e["actor"]) for e in log] == [(short["id"], "reaper")]


def test_killed_portctl_run_childs_port_is_reclaimed(shared_server: ServerProc) -> None:
    """portctl run and its child die together (kill -9 of the session): nobody clears the
    recorded pid, so the pid lease ends with the child and the reaper frees the port."""
    from conftest import BIN

    run = subprocess.Popen(
        [str(BIN / "portctl"), "run", "--app", "runapp", "--instance", "i", "--service", "web",
         "--", sys.executable, "-c", "import time; time.sleep(120)"],
        env=shared_server.env, start_new_session=True, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)

    def recorded() -> list[dict[str, object]]:
        out = shared_server.portctl("list", "--app", "runapp", "--json").stdout
        return [a for a in json.loads(out) if a["pid"]]

    try:
        assert wait_for(lambda: bool(recorded()), timeout=30)
        (alloc,) = recorded()
        assert alloc["source"] == "run" and alloc["pid"] != run.pid and alloc["pid_start"]
        time.sleep(0.6)  # the child runs: its lease holds through a few reaper passes
        assert recorded() == [alloc]
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    assert wait_for(lambda: json.loads(shared_server.portctl(
        "list", "--app", "runapp", "--json").stdout) == [])
    assert f"process {alloc['pid']} exited" in shared_server.log_text()


def test_killed_process_lease_is_reclaimed(shared_server: ServerProc) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        r = shared_server.portctl("allocate", "--app", "pidapp", "--instance", "i",
                                  "--service", "web", "--pid", str(child.pid), "--json")
        assert r.returncode == 0, r.stderr
        alloc = json.loads(r.stdout)
        assert alloc["pid"] == child.pid and alloc["pid_start"] > 0
        time.sleep(0.6)  # a few reaper passes: a live process keeps its lease
        assert shared_server.portctl("list", "--app", "pidapp", "--json").stdout.count(
            '"id"') == 1
        dry = shared_server.portctl("gc", "--dry-run")
        assert "nothing to reclaim" in dry.stdout
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()

    def gone() -> bool:
        return json.loads(shared_server.portctl("list", "--app", "pidapp", "--json").stdout) == []

    assert wait_for(gone)
    assert f"process {child.pid} exited" in shared_server.log_text()


def later(inproc: InProcess, seconds: float) -> None:
    """Move the service's clock ``seconds`` ahead (leases end without the test sleeping)."""
    from port_server.leases import iso_after

    now = inproc.service.clock()
    inproc.service.clock = lambda: iso_after(now, seconds)  # type: ignore[method-assign]


def test_gc_dry_run_then_force(inproc: InProcess) -> None:
    r = inproc.portctl("allocate", "--app", "g", "--instance", "i", "--service", "s",
                       "--ttl", "1s", "--json")
    port = json.loads(r.stdout)["port"]
    dry = inproc.portctl("gc", "--dry-run")
    assert dry.returncode == 0 and "would release" not in dry.stdout  # not expired yet
    later(inproc, 2)
    dry = inproc.portctl("gc", "--dry-run")
    assert dry.returncode == 0 and f"would release port {port}" in dry.stdout
    assert len(json.loads(inproc.portctl("list", "--json").stdout)) == 1
    done = inproc.portctl("gc", "--json")
    assert json.loads(done.stdout)["reclaimed"][0]["allocation"]["port"] == port
    assert json.loads(inproc.portctl("list", "--json").stdout) == []


def test_protect_flag_and_force(inproc: InProcess) -> None:
    r = inproc.portctl("allocate", "--app", "prot", "--instance", "i", "--service", "db",
                       "--protect", "--ttl", "1s", "--json")
    alloc = json.loads(r.stdout)
    assert alloc["protected"] is True
    later(inproc, 2)  # expired, but protected ones are never reclaimed
    assert json.loads(inproc.portctl("gc", "--json").stdout)["reclaimed"] == []
    r = inproc.portctl("release", "--app", "prot")
    assert r.returncode == 1 and "is protected; pass --force" in r.stderr
    r = inproc.portctl("release", "--app", "prot", "--force")
    assert r.returncode == 0 and "released port" in r.stdout
