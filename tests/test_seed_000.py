"""Seed 000's command lines, run as written (through bash) against a real server."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import ServerProc, require_tool


@pytest.fixture
def needs_jq() -> None:
    require_tool("jq", "apt-get install jq")


def sh(server: ServerProc, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", script], env=server.env, cwd=server.tmp,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.usefixtures("needs_jq")
def test_multi_service_allocation_and_env_file(server: ServerProc) -> None:
    r = sh(server, """set -e
portctl allocate --app myapp --instance dev --service postgres
portctl allocate --app myapp --instance dev --service redis
portctl allocate --app myapp --instance dev --service web
portctl allocate --app myapp --instance dev --service api
portctl list --app myapp
PG_PORT=$(portctl list --app myapp --service postgres --json | jq '.[0].port')
REDIS_PORT=$(portctl list --app myapp --service redis --json | jq '.[0].port')
WEB_PORT=$(portctl list --app myapp --service web --json | jq '.[0].port')
cat > .env <<EOF
PG_PORT=${PG_PORT}
REDIS_PORT=${REDIS_PORT}
WEB_PORT=${WEB_PORT}
EOF
""")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("allocated port ")
    assert lines[0].endswith("(id=1) for myapp/dev/postgres")
    assert lines[3].endswith("(id=4) for myapp/dev/api")
    ports = {a["service"]: a["port"] for a in json.loads(
        server.portctl("list", "--app", "myapp", "--json").stdout)}
    env = dict(line.split("=") for line in (server.tmp / ".env").read_text().split())
    assert env == {"PG_PORT": str(ports["postgres"]), "REDIS_PORT": str(ports["redis"]),
                   "WEB_PORT": str(ports["web"])}


def test_multiple_instances(server: ServerProc) -> None:
    r = sh(server, """set -e
portctl allocate --app myapp --instance feature-auth --service postgres
portctl allocate --app myapp --instance feature-auth --service web
portctl allocate --app myapp --instance feature-payments --service postgres
portctl allocate --app myapp --instance feature-payments --service web
portctl list --app myapp
""")
    assert r.returncode == 0, r.stderr
    ports = [a["port"] for a in json.loads(server.portctl("list", "--json").stdout)]
    assert len(ports) == 4 and len(set(ports)) == 4


def test_registering_an_existing_project(server: ServerProc) -> None:
    r = sh(server, """
portctl allocate --app myapp --instance dev --service postgres --port 5432
portctl allocate --app myapp --instance dev --service proxy-nginx --port 80
portctl allocate --app myapp --instance dev --service storybook --port 6006
portctl allocate --app myapp --instance dev --service nodejs-dev --port 3001
""")
    # Each either registers, or (when something on this machine already binds the port) says
    # who holds it and that --force registers it anyway.
    registered = {a["port"] for a in json.loads(server.portctl("list", "--json").stdout)}
    assert registered
    for port in (5432, 80, 6006, 3001):
        status = json.loads(server.portctl("check", "--port", str(port), "--json").stdout)
        if port not in registered:
            assert status["in_use"], r.stderr
            assert f"port {port} is in use on this machine" in r.stderr
            assert "--force" in r.stderr


def test_cleanup_patterns_and_check(server: ServerProc) -> None:
    for inst in ("dev", "staging"):
        for svc in ("postgres", "web"):
            server.portctl("allocate", "--app", "myapp", "--instance", inst, "--service", svc)
    r = sh(server, "portctl release --app myapp --instance dev --service postgres")
    assert r.returncode == 0 and "myapp/dev/postgres" in r.stdout
    r = sh(server, "portctl release --app myapp --instance dev")
    assert r.returncode == 0 and "myapp/dev/web" in r.stdout
    keep = json.loads(server.portctl("list", "--json").stdout)[0]
    r = sh(server, f"portctl release --id {keep['id']}")
    assert r.returncode == 0 and f"id={keep['id']}" in r.stdout
    r = sh(server, "portctl release --id 42")
    assert r.returncode == 1 and "allocation 42 not found" in r.stderr
    r = sh(server, "portctl release --app myapp")
    assert r.returncode == 0
    assert json.loads(server.portctl("list", "--json").stdout) == []
    r = sh(server, "portctl list")
    assert r.returncode == 0 and "no allocations" in r.stdout
    r = sh(server, "portctl check --port 5432; echo rc=$?")
    assert r.stdout.strip().endswith(("rc=0", "rc=1"))


def test_connection_refused_says_how_to_start(server: ServerProc) -> None:
    server.stop()
    r = sh(server, "portctl list")
    assert r.returncode == 3
    assert "port-server &" in r.stderr and "portctl start" in r.stderr


def test_port_server_background_start(server: ServerProc, tmp_path: Path) -> None:
    server.stop()
    r = sh(server, f"port-server --port {server.port} > {tmp_path}/bg.log 2>&1 &\n"
                   "for i in $(seq 150); do portctl health >/dev/null 2>&1 && break; sleep 0.1;"
                   " done\nportctl list; portctl stop")
    assert r.returncode == 0, r.stderr + (tmp_path / "bg.log").read_text()
    assert "stopped port-server" in r.stdout
