"""portctl scan-project | register | env | compose-ports | up, in process over the app."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from conftest import InProcess, free_port
from scan_helpers import write_project

FIXTURES = Path(__file__).parent / "fixtures" / "scan"


@pytest.fixture
def srv(inproc: InProcess) -> InProcess:
    """portctl in process over the app (a fresh registry per test; no daemon needed)."""
    return inproc


def distinct_free_ports(n: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def test_scan_project_json_and_table(srv: InProcess) -> None:
    r = srv.portctl("scan-project", str(FIXTURES / "seed000"), "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [(o["service"], o["host_port"], o["kind"]) for o in rows] == [
        ("postgres", 5432, "compose"), ("proxy", 80, "compose"), ("idp", 9100, "compose"),
        ("storybook", 6006, "npm"), ("nodejs-dev", 3001, "npm")]
    for key in ("file", "line", "kind", "service", "host_port", "container_port", "protocol",
                "host_ip", "resolved"):
        assert key in rows[0]
    assert rows[2]["container_port"] == 8080 and rows[0]["file"] == "docker-compose.yml"
    r = srv.portctl("scan-project", cwd=FIXTURES / "seed000")
    assert r.returncode == 0
    assert "docker-compose.yml:12" in r.stdout and "idp" in r.stdout
    assert "mailcatcher" not in r.stdout and "1025" not in r.stdout


def test_scan_project_reports_bad_input(srv: InProcess, tmp_path: Path) -> None:
    r = srv.portctl("scan-project", str(tmp_path / "missing"))
    assert r.returncode == 2 and "not a directory" in r.stderr
    write_project(tmp_path, {"compose.yaml": "services: [\n", ".env": "A_PORT=1234\n"})
    r = srv.portctl("scan-project", str(tmp_path), "--json")
    assert r.returncode == 0
    assert [o["host_port"] for o in json.loads(r.stdout)] == [1234]
    assert "compose.yaml" in r.stderr


def test_register_is_idempotent_and_reports_conflicts(srv: InProcess, tmp_path: Path) -> None:
    db, web, taken, bound, tool = distinct_free_ports(5)
    write_project(tmp_path, {
        "docker-compose.yml": f"""
            services:
              db:
                ports: ["{db}:5432", "{bound}:5433"]
              web:
                ports: ["{web}:80"]
              other:
                ports: ["{taken}:80"]
        """,
        "package.json": json.dumps({"scripts": {"dev": f"vite --port {tool}"}}),
        ".env": f"WEB_PORT={web}\n",
    })
    assert srv.portctl("allocate", "--app", "someone-else", "--instance", "x", "--service", "s",
                       "--port", str(taken)).returncode == 0
    args = ("register", str(tmp_path), "--app", "proj", "--instance", "dev")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", bound))
        holder.listen()
        dry = srv.portctl(*args, "--dry-run", "--json")
        assert dry.returncode == 1
        assert json.loads(srv.portctl("list", "--app", "proj", "--json").stdout) == []
        assert {o["status"] for o in json.loads(dry.stdout)} == {"would register", "conflict"}
        first = srv.portctl(*args, "--json")
    assert first.returncode == 1, first.stderr
    outcome = {o["port"]: o for o in json.loads(first.stdout)}
    assert set(outcome) == {db, bound, web, taken, tool}  # WEB_PORT in .env is the same port
    assert outcome[db]["status"] == "registered" and outcome[db]["service"] == "db-5432"
    assert outcome[bound]["status"] == "conflict" and "bound" in outcome[bound]["detail"]
    assert outcome[taken]["status"] == "conflict"
    assert "someone-else/x/s" in outcome[taken]["detail"]
    assert outcome[web]["service"] == "web" and outcome[tool]["service"] == "dev"
    listed = json.loads(srv.portctl("list", "--app", "proj", "--json").stdout)
    assert sorted(a["port"] for a in listed) == sorted([db, web, tool])
    assert all(a["source"] == "scan" for a in listed)
    # Again, with the port no longer bound: the registered ones are already there, no duplicates.
    again = srv.portctl(*args)
    assert "already registered to this project: " in again.stdout
    assert f"registered: {bound}/tcp db-5433" in again.stdout
    assert again.returncode == 1  # `taken` is still held by another app
    listed = json.loads(srv.portctl("list", "--app", "proj", "--json").stdout)
    assert sorted(a["port"] for a in listed) == sorted([db, web, tool, bound])


def test_env_prints_and_updates_only_its_lines(srv: InProcess, tmp_path: Path) -> None:
    pg, cache = distinct_free_ports(2)
    for service, port in (("postgres", pg), ("redis-cache", cache)):
        r = srv.portctl("allocate", "--app", "envapp", "--instance", "i", "--service", service,
                        "--port", str(port))
        assert r.returncode == 0, r.stderr
    r = srv.portctl("env", "--app", "envapp", "--instance", "i")
    assert r.stdout == f"POSTGRES_PORT={pg}\nREDIS_CACHE_PORT={cache}\n"
    r = srv.portctl("env", "--app", "envapp", "--instance", "i", "--var", "postgres=PG_PORT",
                    "--json")
    assert json.loads(r.stdout) == {"PG_PORT": pg, "REDIS_CACHE_PORT": cache}
    env_file = tmp_path / ".env"
    original = (b"# keep me\r\nSECRET='a b  c'\r\nexport PG_PORT=1 # db port\r\n\r\n"
                b"OTHER=x")
    env_file.write_bytes(original)
    r = srv.portctl("env", "--app", "envapp", "--instance", "i", "--var", "postgres=PG_PORT",
                    "--write", str(env_file))
    assert r.returncode == 0, r.stderr
    assert env_file.read_bytes() == (
        b"# keep me\r\nSECRET='a b  c'\r\nexport PG_PORT=" + str(pg).encode() +
        b" # db port\r\n\r\nOTHER=x\r\nREDIS_CACHE_PORT=" + str(cache).encode() + b"\r\n")
    assert f"updated PG_PORT={pg}" in r.stdout and "added REDIS_CACHE_PORT" in r.stdout
    bad = srv.portctl("env", "--app", "envapp", "--var", "postgres")
    assert bad.returncode == 2 and "--var" in bad.stderr
    unwritable = srv.portctl("env", "--app", "envapp", "--instance", "i", "--write",
                             str(tmp_path / "missing-dir" / ".env"))
    assert unwritable.returncode == 2 and "cannot write" in unwritable.stderr
    assert "Traceback" not in unwritable.stderr


def test_compose_ports_snippet(srv: InProcess) -> None:
    r = srv.portctl("compose-ports", "postgres", "redis", "--var", "postgres=PG_PORT")
    assert r.returncode == 0
    assert '      - "${PG_PORT:-5432}:5432"' in r.stdout
    assert '      - "${REDIS_PORT:-6379}:6379"' in r.stdout
    r = srv.portctl("compose-ports", "myapi", "--container-port", "8080", "--json")
    assert json.loads(r.stdout)[0]["mapping"] == "${MYAPI_PORT:-8080}:8080"
    r = srv.portctl("compose-ports", "myapi")
    assert r.returncode == 2 and "--container-port" in r.stderr


def test_up_gives_each_worktree_its_own_ports(srv: InProcess, tmp_path: Path) -> None:
    pg_default, literal, sql_default = distinct_free_ports(3)
    compose = f"""
        services:
          postgres:
            ports: ["${{PG_PORT:-{pg_default}}}:5432"]
          mysql:
            ports: ["${{SQL_PORT:-127.0.0.1:{sql_default}}}:3306"]
          api:
            ports:
              - "${{API_PORT}}:8000"
              - "{literal}:9000"
          worker:
            expose: ["7000"]
    """
    one = write_project(tmp_path / "wt1", {"compose.yaml": compose, ".env": "# mine\nA=1\n"})
    two = write_project(tmp_path / "wt2", {"compose.yaml": compose})
    r = srv.portctl("up", str(one), "--app", "upapp", "--instance", "wt1", "--json")
    assert r.returncode == 0, r.stderr
    first = {o["service"]: o for o in json.loads(r.stdout)}
    assert set(first) == {"postgres", "mysql", "api-8000", "api-9000"}
    assert first["postgres"]["port"] == pg_default  # its default was free: kept
    env_one = (one / ".env").read_text()
    assert env_one.startswith("# mine\nA=1\n")
    assert f"PG_PORT={pg_default}\n" in env_one
    assert f"API_PORT={first['api-8000']['port']}\n" in env_one
    assert f"SQL_PORT=127.0.0.1:{sql_default}\n" in env_one  # the bind address stays
    again = srv.portctl("up", str(one), "--app", "upapp", "--instance", "wt1", "--json")
    assert {o["status"] for o in json.loads(again.stdout)} == {"already allocated"}
    assert (one / ".env").read_text() == env_one
    # The second worktree: every port moves, the literal one through the generated override.
    r = srv.portctl("up", str(two), "--app", "upapp", "--instance", "wt2", "--json")
    assert r.returncode == 0, r.stderr
    second = {o["service"]: o for o in json.loads(r.stdout)}
    assert second["postgres"]["port"] != pg_default
    assert second["api-8000"]["port"] != first["api-8000"]["port"]
    assert second["api-9000"]["port"] != literal
    assert second["api-9000"]["variable"] == "API_9000_PORT"
    assert f"${{API_9000_PORT:-{literal}}}" in (two / "compose.override.yaml").read_text()
    env_two = (two / ".env").read_text()
    assert f"PG_PORT={second['postgres']['port']}\n" in env_two
    scanned = json.loads(srv.portctl("scan-project", str(two), "--json").stdout)
    assert {o["host_port"] for o in scanned if o["service"] == "postgres"} == {
        second["postgres"]["port"]}
    r = srv.portctl("up", str(two), "--service", "nope")
    assert r.returncode == 2 and "postgres" in r.stderr


def test_register_host_network_only_is_a_warning(srv: InProcess, tmp_path: Path) -> None:
    write_project(tmp_path, {"compose.yaml": "services:\n  plex:\n    network_mode: host\n"})
    r = srv.portctl("register", str(tmp_path), "--app", "hostnet", "--instance", "i")
    assert r.returncode == 0
    assert "no host-bound ports found" in r.stdout
    assert "network_mode: host" in r.stderr
    flags = json.loads(srv.portctl("scan-project", str(tmp_path), "--json").stdout)
    assert flags == [{"file": "compose.yaml", "line": 3, "kind": "compose", "service": "plex",
                      "host_port": None, "container_port": None, "protocol": "",
                      "host_ip": "", "resolved": True, "network_mode_host": True,
                      "note": "network_mode: host (container ports bind on the host)"}]
