"""portctl's seed 000 command lines, output and exit codes: in process over the app (fast), and
against a real port-server for what only a real process shows (an unreachable server)."""

from __future__ import annotations

import json
import socket

from conftest import InProcess, ServerProc


def test_seed_multi_service_allocation(inproc: InProcess) -> None:
    server = inproc
    ports = []
    for i, svc in enumerate(["postgres", "redis", "web", "api"], start=1):
        r = server.portctl("allocate", "--app", "myapp", "--instance", "dev", "--service", svc)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("allocated port ")
        assert f"(id={i}) for myapp/dev/{svc}" in r.stdout
        ports.append(int(r.stdout.split()[2]))
    assert len(set(ports)) == 4
    listed = server.portctl("list", "--app", "myapp")
    assert listed.returncode == 0
    for svc, port in zip(["postgres", "redis", "web", "api"], ports, strict=True):
        assert svc in listed.stdout and str(port) in listed.stdout
    r = server.portctl("list", "--app", "myapp", "--service", "postgres", "--json")
    assert json.loads(r.stdout)[0]["port"] == ports[0]


def test_allocate_is_idempotent(inproc: InProcess) -> None:
    server = inproc
    first = server.portctl("allocate", "--app", "a", "--instance", "i", "--service", "s")
    again = server.portctl("allocate", "--app", "a", "--instance", "i", "--service", "s")
    assert again.returncode == 0
    assert first.stdout.split()[2] == again.stdout.split()[3]
    assert "already allocated" in again.stdout


def test_check_exit_codes(inproc: InProcess) -> None:
    server = inproc
    r = server.portctl("allocate", "--app", "a", "--instance", "i", "--service", "s", "--json")
    port = json.loads(r.stdout)["port"]
    taken = server.portctl("check", "--port", str(port))
    assert taken.returncode == 1
    assert "a/i/s" in taken.stdout
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        bound = s.getsockname()[1]
        r = server.portctl("check", "--port", str(bound))
        assert r.returncode == 1
        assert "in use" in r.stdout
    server.portctl("release", "--app", "a")
    assert server.portctl("check", "--port", str(port)).returncode == 0


def test_unreachable_server_exit_3(server: ServerProc) -> None:
    r = server.portctl("list", env={"PORT_SERVER_ADDR": "127.0.0.1:1"})
    assert r.returncode == 3
    assert "port-server &" in r.stderr
    assert "Traceback" not in r.stderr
