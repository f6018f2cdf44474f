"""Live scan against a real port-server: real listeners (TCP v4/v6, UDP, child processes with known
command lines), `portctl scan`/`who`/`check`/`adopt`, GET /v1/scan, and the non-root view."""

from __future__ import annotations

import json
import os
import pwd
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from conftest import ServerProc, free_port, make_server, require_root
from port_server.models import AllocationRequest, ScanReport

LISTENER = """\
import socket, sys, time
proto, host = sys.argv[1], sys.argv[2]
family = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(family, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
s.bind((host, int(sys.argv[4]) if len(sys.argv) > 4 else 0))
if proto == "tcp":
    s.listen()
print(s.getsockname()[1], flush=True)
time.sleep(300)
"""

Spawn = Callable[..., tuple[subprocess.Popen[str], int]]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProc]:
    # A socket that does not exist: Docker is "unavailable" whatever this machine runs.
    tmp = tmp_path_factory.mktemp("scan")
    server = make_server(tmp, env={"DOCKER_HOST": f"unix://{tmp}/no-docker.sock"}).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start a child that listens and sleeps; its command line carries ``marker``."""
    script = tmp_path / "listener.py"
    script.write_text(LISTENER)
    children: list[subprocess.Popen[str]] = []

    def start(proto: str, host: str, marker: str, exe: str = sys.executable,
              port: int = 0) -> tuple[subprocess.Popen[str], int]:
        proc = subprocess.Popen([exe, str(script), proto, host, marker, str(port)],
                                stdout=subprocess.PIPE, text=True)
        children.append(proc)
        assert proc.stdout is not None
        return proc, int(proc.stdout.readline())

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait()


@pytest.fixture
def sleeper() -> Iterator[int]:
    """An unrelated live process, to record as the wrong holder."""
    proc = subprocess.Popen(["sleep", "300"])
    yield proc.pid
    proc.kill()
    proc.wait()


def scan_json(srv: ServerProc, *args: str) -> tuple[int, dict[str, Any]]:
    r = srv.portctl("scan", "--json", *args)
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, json.loads(r.stdout)


def row_of(report: dict[str, Any], port: int, protocol: str = "tcp") -> dict[str, Any]:
    rows = [r for r in report["rows"] if r["port"] == port and r["protocol"] == protocol]
    assert len(rows) == 1, (port, protocol, report["rows"])
    return rows[0]


def allocate(srv: ServerProc, **kw: Any) -> int:
    with srv.client() as c:
        return c.allocate(AllocationRequest(instance="t", **kw)).allocation.id


def my_user() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


def test_scan_shows_each_state(srv: ServerProc, spawn: Spawn, sleeper: int) -> None:
    good, good_port = spawn("tcp", "127.0.0.1", "marker-ok")
    allocate(srv, app="states", service="good", port=good_port, force=True, pid=good.pid)
    _, wrong_port = spawn("tcp", "127.0.0.1", "marker-wrong")
    allocate(srv, app="states", service="wrong", port=wrong_port, force=True, pid=sleeper)
    with socket.socket(socket.AF_INET6) as v6, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        v6.bind(("::1", 0))
        v6.listen()
        udp.bind(("127.0.0.1", 0))
        udp_port = udp.getsockname()[1]
        allocate(srv, app="states", service="dns", port=udp_port, protocol="udp", force=True)
        down_port = free_port()
        allocate(srv, app="states", service="gone", port=down_port)
        ports = [good_port, wrong_port, v6.getsockname()[1], udp_port, down_port]
        span = f"{min(ports)}-{max(ports)}"

        code, report = scan_json(srv, "--port-range", span)
        assert code == 1  # a conflict is shown
        assert row_of(report, good_port)["state"] == "ok"
        wrong = row_of(report, wrong_port)
        assert wrong["state"] == "conflict"
        assert f"pid {sleeper}" in wrong["reason"]
        v6_row = row_of(report, v6.getsockname()[1])
        assert v6_row["state"] == "unregistered"
        assert v6_row["listeners"][0]["address"] == "::1"
        assert row_of(report, udp_port, "udp")["state"] == "ok"
        down = row_of(report, down_port)
        assert down["state"] == "down" and down["listeners"] == []
        assert down["allocations"][0]["service"] == "gone"
        assert "pid" not in v6_row["listeners"][0]  # details only with -d

        code, only_ok = scan_json(srv, "--port-range", span, "--state", "ok,down")
        assert code == 0
        assert {r["state"] for r in only_ok["rows"]} <= {"ok", "down"}
        assert {good_port, udp_port, down_port} <= {r["port"] for r in only_ok["rows"]}

        code, app_only = scan_json(srv, "--app", "states")
        assert {(r["port"], r["state"]) for r in app_only["rows"]} == {
            (good_port, "ok"), (wrong_port, "conflict"), (udp_port, "ok"), (down_port, "down")}

        text = srv.portctl("scan", "--port-range", span)
        assert text.returncode == 1
        assert f"conflict on {wrong_port}/tcp" in text.stdout
        assert "states/t/gone" in text.stdout
        assert "ok," in text.stdout.splitlines()[-1]


def test_details_show_the_process(srv: ServerProc, spawn: Spawn) -> None:
    child, port = spawn("tcp", "::1", "marker-details")
    code, report = scan_json(srv, "-d", "--port-range", f"{port}-{port}")
    assert code == 0
    (lst,) = row_of(report, port)["listeners"]
    assert lst["pid"] == child.pid
    assert lst["name"] == psutil.Process(child.pid).name()
    assert lst["user"] == my_user()
    assert "marker-details" in lst["cmdline"] and lst["address"] == "::1"
    assert lst["hidden"] == [] and lst["container"] is None
    assert report["docker"].startswith("unavailable")
    text = srv.portctl("scan", "-d", "--port-range", f"{port}-{port}")
    assert str(child.pid) in text.stdout and "COMMAND" in text.stdout
    assert "listener.py" in text.stdout


def test_command_recorded_without_pid(srv: ServerProc, spawn: Spawn) -> None:
    child, port = spawn("tcp", "127.0.0.1", "marker-cmd")
    actual = " ".join(psutil.Process(child.pid).cmdline())
    recorded = Path(sys.executable).name + " " + actual.split(" ", 1)[1]
    allocate(srv, app="cmd", service="same", port=port, force=True, command=recorded)
    _, other = spawn("tcp", "127.0.0.1", "marker-cmd-2")
    allocate(srv, app="cmd", service="other", port=other, force=True,
             command="redis-server --port 6379")
    _, report = scan_json(srv, "--app", "cmd")
    assert row_of(report, port)["state"] == "ok"
    assert row_of(report, other)["state"] == "conflict"
    assert "redis-server" in row_of(report, other)["reason"]


def test_registered_process_exits_then_down(srv: ServerProc, spawn: Spawn) -> None:
    child, port = spawn("udp", "127.0.0.1", "marker-exit")
    allocate(srv, app="exit", service="worker", port=port, protocol="udp", force=True,
             pid=child.pid)
    assert row_of(scan_json(srv, "--app", "exit")[1], port, "udp")["state"] == "ok"
    child.send_signal(signal.SIGTERM)
    child.wait(10)
    code, report = scan_json(srv, "--app", "exit")
    assert code == 0
    assert row_of(report, port, "udp")["state"] == "down"


def test_cross_protocol_collision_is_a_conflict(srv: ServerProc) -> None:
    port = free_port()
    allocate(srv, app="coll-a", service="web", port=port)
    allocate(srv, app="coll-b", service="dns", port=port, protocol="udp")
    code, report = scan_json(srv, "--port-range", f"{port}-{port}")
    assert code == 1
    assert row_of(report, port)["state"] == "conflict"
    assert row_of(report, port, "udp")["state"] == "conflict"
    assert "coll-a" in row_of(report, port)["reason"]
    bad = srv.portctl("scan", "--port-range", "0-70000")
    assert bad.returncode == 2 and "port_range: '0-70000'" in bad.stderr
    # a range written backwards is the same range (the API document allows it)
    assert scan_json(srv, "--port-range", f"{port}-{port - 1}")[1]["rows"] == scan_json(
        srv, "--port-range", f"{port - 1}-{port}")[1]["rows"]
    bad = srv.portctl("scan", "--state", "gone")
    assert bad.returncode == 2 and "ok, down, unregistered, conflict" in bad.stderr


def test_who_and_check_show_the_live_side(srv: ServerProc, spawn: Spawn) -> None:
    child, port = spawn("tcp", "127.0.0.1", "marker-who")
    allocate(srv, app="who", service="web", port=port, force=True, pid=child.pid)
    who = srv.portctl("who", str(port))
    assert who.returncode == 1
    assert f"port {port}/tcp: ok" in who.stdout
    assert "allocated to who/t/web" in who.stdout and f"pid {child.pid}" in who.stdout
    assert "marker-who" in who.stdout and f"user {my_user()}" in who.stdout
    data = json.loads(srv.portctl("who", str(port), "--json").stdout)
    assert data["rows"][0]["listeners"][0]["pid"] == child.pid
    check = srv.portctl("check", str(port))
    assert check.returncode == 1
    assert "marker-who" in check.stdout and f"pid {child.pid}" in check.stdout
    free = free_port()
    idle = srv.portctl("who", str(free))
    assert idle.returncode == 0 and "available" in idle.stdout
    bad = srv.portctl("who", "70000")
    assert bad.returncode == 2 and "out of range" in bad.stderr


def test_adopt_interactively_and_with_yes(srv: ServerProc, spawn: Spawn) -> None:
    child, port = spawn("tcp", "127.0.0.1", "marker-adopt")
    span = ("--port-range", f"{port}-{port}")
    dry = srv.portctl("adopt", "--dry-run", *span)
    assert f"would adopt {port}/tcp" in dry.stdout
    declined = srv.portctl("adopt", *span, input="n\n")
    assert declined.returncode == 0 and "adopt " in declined.stderr
    assert row_of(scan_json(srv, *span)[1], port)["state"] == "unregistered"
    accepted = srv.portctl("adopt", *span, "--json", input="y\n")
    assert accepted.returncode == 0, accepted.stderr
    (alloc,) = json.loads(accepted.stdout)
    name = psutil.Process(child.pid).name()
    assert (alloc["app"], alloc["instance"], alloc["service"]) == (name, "default", name)
    assert alloc["pid"] == child.pid and "marker-adopt" in alloc["command"]
    assert alloc["source"] == "scan" and alloc["port"] == port
    assert row_of(scan_json(srv, *span)[1], port)["state"] == "ok"
    again = srv.portctl("adopt", "--yes", *span)
    assert "nothing to adopt" in again.stdout

    # Two listeners of the same program: one name each, made unique by their port.
    _, p1 = spawn("tcp", "127.0.0.1", "marker-twin")
    _, p2 = spawn("udp", "127.0.0.1", "marker-twin")
    both = srv.portctl("adopt", "--yes", "--json", "--instance", "twins",
                       "--port-range", f"{min(p1, p2)}-{max(p1, p2)}")
    assert both.returncode == 0, both.stderr
    mine = {a["port"]: a for a in json.loads(both.stdout) if a["port"] in (p1, p2)}
    assert set(mine) == {p1, p2}
    services = {mine[p1]["service"], mine[p2]["service"]}
    assert len(services) == 2 and all(s.startswith(name) for s in services)
    assert mine[p2]["protocol"] == "udp"


def test_portman_scan_entry_point(srv: ServerProc, spawn: Spawn,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    from port_server.cli import Context
    from port_server.cli.scan import portman_scan

    child, port = spawn("tcp", "127.0.0.1", "marker-portman")
    ctx = Context(srv.addr)
    try:
        code = portman_scan(["-d", "--json", "--port-range", f"{port}-{port}"], ctx)
    finally:
        ctx.close()
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert row_of(report, port)["listeners"][0]["pid"] == child.pid


def test_portctl_run_child_is_the_recorded_holder(srv: ServerProc, tmp_path: Path) -> None:
    """`portctl run` records its child's pid; the listener is that child's own child."""
    script = tmp_path / "listener.py"
    script.write_text(LISTENER)
    # "; true" keeps sh from exec'ing python: the listener is a grandchild of portctl run.
    shell = f"{sys.executable} {script} tcp 127.0.0.1 marker-run {{port}}; true"
    run = subprocess.Popen([str(Path(sys.executable).parent / "portctl"), "run", "--app",
                            "runapp", "--instance", "t", "--service", "web", "--ephemeral",
                            "--", "sh", "-c", shell], env=srv.env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    listener_pid = None
    try:
        row: dict[str, Any] = {}
        for _ in range(100):  # bounded: the child needs a moment to start and record its pid
            _, report = scan_json(srv, "-d", "--app", "runapp")
            row = report["rows"][0] if report["rows"] else {}
            if row.get("listeners") and row["allocations"][0]["pid"]:
                break
            time.sleep(0.1)
        assert row["state"] == "ok", row
        (lst,) = row["listeners"]
        listener_pid = lst["pid"]
        assert "marker-run" in lst["cmdline"]
        assert listener_pid != row["allocations"][0]["pid"]  # recorded: sh; listening: python
        assert row["allocations"][0]["command"].startswith("sh -c")
    finally:
        run.send_signal(signal.SIGTERM)
        run.wait(20)
        if listener_pid is not None and psutil.pid_exists(listener_pid):
            os.kill(listener_pid, signal.SIGKILL)  # sh died first: python was orphaned


def test_portman_scan_command(srv: ServerProc, spawn: Spawn) -> None:
    child, port = spawn("tcp", "127.0.0.1", "marker-portman-cmd")
    r = srv.portman("scan", "-d", "--port-range", f"{port}-{port}")
    assert r.returncode == 0, r.stderr
    assert str(child.pid) in r.stdout and "unregistered" in r.stdout


def test_scan_api_rejects_bad_input(api: Any) -> None:
    for query, field in (("state=ok,broken", "state"), ("port_range=0-9", "port_range"),
                         ("port_range=abc", "port_range"), ("details=maybe", "details"),
                         ("app=no%20spaces", "app")):
        r = api.get(f"/v1/scan?{query}")
        assert r.status_code == 400, (query, r.text)
        assert r.json()["field"] == field and r.json()["code"] == "invalid_input"
    ok = api.get("/v1/scan?state=unregistered&details=true")
    assert ok.status_code == 200
    body = ok.json()
    assert set(body["counts"]) == {"ok", "down", "unregistered", "conflict", "orphan"}
    assert body["details"] is True


def test_non_root_sees_hidden_holders_without_failing(spawn: Spawn) -> None:
    require_root("drop to another user")
    from port_server.scanners import live

    _, port = spawn("tcp", "127.0.0.1", "marker-root")
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: become nobody, scan, report, exit without pytest's cleanup
        try:
            os.close(read_fd)
            os.setgid(65534)
            os.setuid(65534)
            report = live.scan([], port_range=(port, port), details=True)
            os.write(write_fd, json.dumps(report.to_dict()).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as fh:
        data = fh.read()
    os.waitpid(pid, 0)
    report = ScanReport.from_dict(json.loads(data))
    (row,) = report.rows
    (lst,) = row.listeners
    assert report.hidden is True
    assert lst.pid is None and "pid" in lst.hidden and lst.user == "root"
    assert "hidden" in row.reason and row.state == "unregistered"


def test_docker_container_names_from_the_engine(tmp_path: Path, spawn: Spawn) -> None:
    engine = tmp_path / "docker.sock"
    proxy_exe = tmp_path / "docker-proxy"  # a python named docker-proxy holds the port
    proxy_exe.symlink_to(os.path.realpath(sys.executable))
    proxy, proxied = spawn("tcp", "127.0.0.1", "marker-proxy", exe=str(proxy_exe))
    nat_only = free_port()  # published by the engine's NAT rules: nothing listens
    containers = [{"Names": ["/shop-web-1"], "Image": "nginx:1",
                   "Labels": {"com.docker.compose.project": "shop",
                              "com.docker.compose.service": "web"},
                   "Ports": [{"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": proxied,
                              "Type": "tcp"}]},
                  {"Names": ["/cache"], "Image": "redis:7", "Labels": {},
                   "Ports": [{"IP": "0.0.0.0", "PrivatePort": 6379, "PublicPort": nat_only,
                              "Type": "tcp"}]}]
    stop = serve_fake_engine(engine, containers)
    srv = make_server(tmp_path / "srv", env={"DOCKER_HOST": f"unix://{engine}"}).start()
    try:
        span = f"{min(proxied, nat_only)}-{max(proxied, nat_only)}"
        _, report = scan_json(srv, "-d", "--port-range", span)
        assert report["docker"].startswith("ok (api")
        (lst,) = row_of(report, proxied)["listeners"]
        assert lst["name"] == "docker-proxy" and lst["pid"] == proxy.pid
        assert lst["container"]["name"] == "shop-web-1"
        assert lst["container"]["compose_project"] == "shop"
        assert lst["container"]["container_port"] == 80
        nat = row_of(report, nat_only)
        assert nat["state"] == "unregistered"
        assert nat["listeners"][0]["container"]["name"] == "cache"
        who = srv.portctl("who", str(proxied))
        assert "docker container shop-web-1, compose project shop, service web" in who.stdout
        adopted = srv.portctl("adopt", "--yes", "--json", "--port-range", span)
        assert adopted.returncode == 0, adopted.stderr
        by_port = {a["port"]: a for a in json.loads(adopted.stdout)}
        assert (by_port[proxied]["app"], by_port[proxied]["service"]) == ("shop", "web")
        assert by_port[proxied]["pid"] == proxy.pid
        assert (by_port[nat_only]["app"], by_port[nat_only]["service"]) == ("cache", "cache")
        assert "docker container cache" in by_port[nat_only]["note"]
    finally:
        srv.stop()
        stop()


def serve_fake_engine(path: Path, containers: list[dict[str, Any]]) -> Callable[[], None]:
    """A stand-in for the Docker engine's API socket (the engine cannot run here)."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen()
    listener.settimeout(0.2)
    done = threading.Event()
    body = json.dumps(containers).encode()

    def loop() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + body)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()

    def stop() -> None:
        done.set()
        thread.join(5)
        listener.close()

    time.sleep(0)
    return stop
