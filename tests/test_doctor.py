"""portctl doctor against a real server: one line per check, ok/warn/fail, exit 1 on any fail."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import ServerProc, make_server

CHECKS = ["server", "database", "data dir", "pools", "skill", "PATH", "mcp", "proxy"]


def _by_name(stdout: str) -> dict[str, dict[str, str]]:
    return {c["name"]: c for c in json.loads(stdout)}


def test_healthy_setup(server: ServerProc) -> None:
    r = server.portctl("doctor")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == len(CHECKS)
    for line, name in zip(lines, CHECKS, strict=True):
        assert line.split()[0] in ("ok", "warn")
        assert name in line
    checks = _by_name(server.portctl("doctor", "--json").stdout)
    assert list(checks) == CHECKS
    assert checks["server"]["status"] == "ok" and "0." in checks["server"]["message"]
    assert checks["database"]["status"] == "ok"
    assert checks["data dir"]["status"] == "ok"
    assert str(server.data_dir) in checks["data dir"]["message"]
    assert checks["PATH"]["status"] == "ok"  # the test env puts the venv's bin first
    assert checks["skill"]["status"] == "warn"  # nothing installed in the temp HOME / cwd
    assert checks["mcp"]["status"] == "ok"  # the dev venv has the mcp extra
    assert checks["proxy"]["status"] == "ok" and "not started" in checks["proxy"]["message"]


def test_skill_check_follows_install(server: ServerProc) -> None:
    assert server.portctl("skill", "install").returncode == 0
    checks = _by_name(server.portctl("doctor", "--json").stdout)
    assert checks["skill"]["status"] == "ok"
    assert ".claude/skills/port-server" in checks["skill"]["message"]
    skill = server.tmp / ".claude" / "skills" / "port-server" / "SKILL.md"
    skill.write_text(skill.read_text() + "edited\n")
    checks = _by_name(server.portctl("doctor", "--json").stdout)
    assert checks["skill"]["status"] == "warn" and "differs" in checks["skill"]["message"]


def test_unreachable_server_fails(server: ServerProc, tmp_path: Path) -> None:
    r = server.portctl("doctor", env={"PORT_SERVER_ADDR": "127.0.0.1:1",
                                      "PATH": "/usr/bin:/bin"})
    assert r.returncode == 1
    first = r.stdout.splitlines()[0]
    assert first.startswith("fail") and "cannot reach port-server" in first
    assert "Traceback" not in r.stderr
    checks = _by_name(server.portctl("doctor", "--json", env={
        "PORT_SERVER_ADDR": "127.0.0.1:1", "PATH": "/usr/bin:/bin"}).stdout)
    assert checks["database"]["status"] == "warn"
    assert checks["PATH"]["status"] == "warn" and "portctl" in checks["PATH"]["message"]


def test_unwritable_data_dir_fails(server: ServerProc, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    checks = _by_name(server.portctl("doctor", "--json", env={
        "PORT_SERVER_ADDR": "127.0.0.1:1", "PORT_SERVER_HOME": str(blocker / "data")}).stdout)
    assert checks["data dir"]["status"] == "fail"


def test_pool_overlapping_ephemeral_range_warns(tmp_path: Path) -> None:
    eph = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    lo = int(eph[0])
    srv = make_server(tmp_path, config=f'[pools]\nwide = "{lo - 10}-{lo + 10}"\n').start()
    try:
        r = srv.portctl("doctor")
        line = next(ln for ln in r.stdout.splitlines() if "pools" in ln)
        assert line.startswith("warn") and f"wide ({lo - 10}-{lo + 10})" in line
        assert r.returncode == 0  # a warning is not a failure
    finally:
        srv.stop()
