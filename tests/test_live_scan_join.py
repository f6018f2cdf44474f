"""The pure half of the live scan (join, collisions, matching, parsing) and the OS parsers."""

from __future__ import annotations

import socket

import pytest

from port_server.errors import InvalidInput
from port_server.models import Allocation, ContainerInfo, Listener, ScanReport, ScanRow
from port_server.scanners import docker_ports, live
from port_server.system import sock_diag
from port_server.system import sockets as live_sockets


def alloc(id: int, port: int, protocol: str = "tcp", app: str = "app", instance: str = "dev",
          service: str = "web", pid: int | None = None, pid_start: float | None = None,
          command: str = "") -> Allocation:
    return Allocation(id=id, app=app, instance=instance, service=service, port=port,
                      created_at="2026-01-01T00:00:00Z", protocol=protocol, pid=pid,
                      pid_start=pid_start, command=command)


def listener(port: int, protocol: str = "tcp", pid: int | None = 100, cmdline: str = "",
             lineage: tuple[tuple[int, float], ...] | None = None,
             hidden: tuple[str, ...] = ()) -> Listener:
    if lineage is None:
        lineage = ((pid, 1000.0), (1, 1.0)) if pid is not None else ()
    return Listener(protocol, "127.0.0.1", port, pid=pid, name="proc", cmdline=cmdline,
                    pids=(pid,) if pid else (), lineage=lineage, hidden=hidden)


def states(rows: list[ScanRow]) -> dict[tuple[int, str], str]:
    return {(r.port, r.protocol): r.state for r in rows}


def test_each_state_from_the_join() -> None:
    allocs = [alloc(1, 5000), alloc(2, 5001, service="db"),
              alloc(3, 5002, service="api", pid=200)]
    live_ = [listener(5000), listener(5002, pid=300), listener(5003)]
    rows = live.join(allocs, live_)
    assert states(rows) == {(5000, "tcp"): "ok", (5001, "tcp"): "down",
                            (5002, "tcp"): "conflict", (5003, "tcp"): "unregistered"}
    conflict = next(r for r in rows if r.state == "conflict")
    assert "pid 200" in conflict.reason and "pid 300" in conflict.reason
    assert [r.port for r in rows] == sorted(r.port for r in rows)


def test_protocols_are_separate_rows() -> None:
    rows = live.join([alloc(1, 53, "udp")], [listener(53, "tcp")])
    assert states(rows) == {(53, "tcp"): "unregistered", (53, "udp"): "down"}


def test_recorded_pid_matches_a_descendant_and_checks_start_time() -> None:
    # `portctl run` records the shell's pid; the server it starts is a child that listens.
    child = listener(6000, pid=501, lineage=((501, 50.0), (500, 40.0), (1, 1.0)))
    assert live.holder_matches(alloc(1, 6000, pid=500), child) is True
    assert live.holder_matches(alloc(1, 6000, pid=500, pid_start=40.2), child) is True
    # Same pid number, another start time: the pid was reused by an unrelated process.
    assert live.holder_matches(alloc(1, 6000, pid=500, pid_start=9.0), child) is False
    assert live.holder_matches(alloc(1, 6000, pid=777), child) is False
    # A worker sharing the master's socket counts too.
    shared = Listener("tcp", "0.0.0.0", 6000, pid=10, pids=(10, 11, 12), lineage=((10, 1.0),))
    assert live.holder_matches(alloc(1, 6000, pid=12), shared) is True


def test_recorded_command_matches_a_restarted_process() -> None:
    restarted = listener(7000, pid=900, cmdline="/usr/bin/python3 -m http.server 7000")
    assert live.holder_matches(alloc(1, 7000, command="python3 -m http.server"), restarted)
    assert live.holder_matches(alloc(1, 7000, pid=12345, command="python3 -m http.server 7000"),
                               restarted)
    assert not live.holder_matches(alloc(1, 7000, command="redis-server"), restarted)
    assert not live.same_command("", "anything")


def test_hidden_holder_is_not_called_a_conflict() -> None:
    hidden = listener(8000, pid=None, hidden=("pid", "name", "cmdline"))
    assert live.holder_matches(alloc(1, 8000, pid=5), hidden) is None
    rows = live.join([alloc(1, 8000, pid=5)], [hidden])
    assert rows[0].state == "ok" and "not verified" in rows[0].reason
    no_cmd = listener(8001, pid=77, lineage=((77, 1.0),), hidden=("cmdline",))
    assert live.holder_matches(alloc(1, 8001, command="x"), no_cmd) is None


def test_unrecorded_holder_is_ok_whoever_listens() -> None:
    assert live.join([alloc(1, 9000)], [listener(9000, pid=4242)])[0].state == "ok"
    assert live.join([alloc(1, 9000, pid=0)], [listener(9000, pid=4242)])[0].state == "ok"


def test_registry_collisions() -> None:
    same_proto = [alloc(1, 4000, app="a"), alloc(2, 4000, app="b")]
    rows = live.join(same_proto, [])
    assert states(rows) == {(4000, "tcp"): "conflict"}
    assert "registered twice" in rows[0].reason
    cross = [alloc(1, 4001, "tcp", app="a"), alloc(2, 4001, "udp", app="b")]
    assert states(live.join(cross, [listener(4001)])) == {
        (4001, "tcp"): "conflict", (4001, "udp"): "conflict"}
    # One service using tcp and udp (DNS, QUIC) is fine.
    dns = [alloc(1, 53, "tcp", service="dns"), alloc(2, 53, "udp", service="dns-udp")]
    assert live.registry_collisions(dns) == {}


def test_filter_rows() -> None:
    rows = live.join([alloc(1, 1000, app="a"), alloc(2, 1001, app="b")],
                     [listener(1000), listener(1002)])
    assert [r.port for r in live.filter_rows(rows, app="a")] == [1000]
    assert [r.port for r in live.filter_rows(rows, frozenset({"down", "unregistered"}))] == [
        1001, 1002]


def test_parse_states_and_port_range() -> None:
    assert live.parse_states("ok, conflict") == frozenset({"ok", "conflict"})
    assert live.parse_states("") is None
    with pytest.raises(InvalidInput) as err:
        live.parse_states("ok,broken")
    assert err.value.field == "state" and "'broken'" in err.value.message
    assert live.parse_port_range("3000-3999") == (3000, 3999)
    assert live.parse_port_range("8080") == (8080, 8080)
    assert live.parse_port_range("3999-3000") == (3000, 3999)  # written backwards: same range
    for bad in ("0-10", "a-b", "1-70000", "-"):
        with pytest.raises(InvalidInput) as err:
            live.parse_port_range(bad)
        assert err.value.field == "port_range"


PROC_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1
   1: 0100007F:1F91 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 4243 1
"""
PROC_TCP6 = ("  sl  local_address remote_address st tx rx tr tm\n"
             "   0: " + "0" * 24 + "01000000:0050 " + "0" * 32 + ":0000 0A 0:0 0:0 0 0 0 77 1\n")
PROC_UDP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 99 2
   1: 0100007F:A000 0100007F:0035 01 00000000:00000000 00:00000000 00000000     0        0 98 2
"""


def test_parse_proc_net_tables() -> None:
    tcp = live_sockets.parse_proc_net(PROC_TCP, "tcp", socket.AF_INET)
    assert tcp == [live_sockets.RawSocket("tcp", "127.0.0.1", 8080, 4242, 1000)]  # not ESTAB
    tcp6 = live_sockets.parse_proc_net(PROC_TCP6, "tcp", socket.AF_INET6)
    assert [(s.address, s.port, s.inode) for s in tcp6] == [("::1", 80, 77)]
    udp = live_sockets.parse_proc_net(PROC_UDP, "udp", socket.AF_INET)
    assert [(s.address, s.port) for s in udp] == [("0.0.0.0", 53)]  # the connected one is a client


def test_netlink_and_proc_net_agree_on_real_sockets() -> None:
    with socket.socket() as t4, socket.socket(socket.AF_INET6) as t6, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u4:
        t4.bind(("127.0.0.1", 0))
        t4.listen()
        t6.bind(("::1", 0))
        t6.listen()
        u4.bind(("127.0.0.1", 0))
        mine = {("tcp", "127.0.0.1", t4.getsockname()[1]), ("tcp", "::1", t6.getsockname()[1]),
                ("udp", "127.0.0.1", u4.getsockname()[1])}
        via_netlink = {(r[0], r[1], r[2]) for r in sock_diag.listening()}
        via_text = {(s.protocol, s.address, s.port) for s in live_sockets.read_proc_net()}
        assert mine <= via_netlink
        assert mine <= via_text
        ours = {k for k in via_text if k in mine}
        assert ours == {k for k in via_netlink if k in mine}


def test_docker_cli_and_api_parsing() -> None:
    line = ('{"Names":"shop-web-1","Image":"nginx","Ports":"0.0.0.0:8080->80/tcp, :::8080->80/tcp,'
            ' 127.0.0.1:9000-9001->9000-9001/udp, 5432/tcp","Labels":'
            '"com.docker.compose.project=shop,com.docker.compose.service=web"}')
    pubs = docker_ports.parse_cli(line + "\nnot json\n")
    assert {(p.host_ip, p.host_port, p.protocol, p.container.container_port) for p in pubs} == {
        ("0.0.0.0", 8080, "tcp", 80), ("::", 8080, "tcp", 80), ("127.0.0.1", 9000, "udp", 9000),
        ("127.0.0.1", 9001, "udp", 9001)}
    assert pubs[0].container == ContainerInfo("shop-web-1", "shop", "web", 80, "nginx")
    api = [{"Names": ["/db"], "Image": "postgres", "Labels": {},
            "Ports": [{"IP": "0.0.0.0", "PrivatePort": 5432, "PublicPort": 15432, "Type": "tcp"},
                      {"PrivatePort": 5433, "Type": "tcp"}]}]
    (pub,) = docker_ports.parse_api(api)
    assert (pub.host_port, pub.container.name, pub.container.compose_project) == (15432, "db", "")


def test_containers_attach_and_engine_published_ports_count_as_listening() -> None:
    info = ContainerInfo("shop-web-1", "shop", "web", 80)
    pubs = [docker_ports.Published("0.0.0.0", 8080, "tcp", info),
            docker_ports.Published("0.0.0.0", 8081, "tcp", info)]
    out = live.attach_containers([listener(8080)], pubs)
    assert out[0].container == info and out[0].pid == 100
    assert (out[1].port, out[1].pid, out[1].container) == (8081, None, info)
    assert live.join([alloc(1, 8081)], out[1:])[0].state == "ok"


def test_report_round_trips_through_json() -> None:
    rows = live.join([alloc(1, 5000, pid=3)], [listener(5000, pid=3, cmdline="x y")])
    report = ScanReport(tuple(rows), details=True, hidden=False, docker="not found")
    again = ScanReport.from_dict(report.to_dict())
    assert again.rows[0].listeners[0].cmdline == "x y"
    assert again.rows[0].allocations[0].pid == 3
    assert again.counts() == {"ok": 1, "down": 0, "unregistered": 0, "conflict": 0, "orphan": 0}
    brief = ScanReport(tuple(rows)).to_dict()
    assert "cmdline" not in brief["rows"][0]["listeners"][0]


def test_scan_commands_have_help_and_are_documented() -> None:
    from conftest import documentation
    from port_server.cli import build_parser

    readme = documentation()
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in ("scan", "who", "adopt"):
        assert sub.choices[name].description, name  # type: ignore[index]
        assert f"portctl {name}" in readme
    assert "GET /v1/scan" in readme and "portman scan" in readme
