"""`port-server install-service` and `portctl start`: the server comes back after a reboot, and
starts detached with its log in the data dir.

systemd's user manager cannot run in this sandbox, so one test puts a stand-in `systemctl` first on
PATH to see what would be run; the others use the machine's own (which answers "no bus" here, or
is absent), which is the fallback path users in containers get.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import BIN, free_port, isolated_env


def _port_server(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "port-server"), *args], env=env, capture_output=True,
                          text=True, timeout=60)


def test_print_only_prints(tmp_path: Path) -> None:
    env = isolated_env(tmp_path)
    r = _port_server(env, "install-service", "--print", "--port", "51299")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("[Unit]\n")
    exec_line = next(ln for ln in r.stdout.splitlines() if ln.startswith("ExecStart="))
    assert exec_line == (f"ExecStart={sys.executable} -m port_server.server.daemon"
                         " --port 51299")
    assert f"Environment=PORT_SERVER_HOME={env['PORT_SERVER_HOME']}" in r.stdout
    assert "WantedBy=default.target" in r.stdout
    assert not (Path(env["HOME"]) / ".config" / "systemd").exists()


def test_writes_unit_and_explains_when_systemd_is_unavailable(tmp_path: Path) -> None:
    env = isolated_env(tmp_path, PATH=f"{BIN}{os.pathsep}/nonexistent")  # no systemctl at all
    r = _port_server(env, "install-service")
    assert r.returncode == 0, r.stderr
    unit = Path(env["HOME"]) / ".config" / "systemd" / "user" / "port-server.service"
    assert unit.is_file() and f"wrote {unit}" in r.stdout
    assert "systemctl --user enable --now port-server.service" in r.stdout
    assert "ExecStart=" in unit.read_text()


def test_enables_with_systemctl(tmp_path: Path) -> None:
    fake_bin = tmp_path / "fakebin"
    fake_bin.mkdir()
    calls = tmp_path / "calls.txt"
    systemctl = fake_bin / "systemctl"
    systemctl.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    systemctl.chmod(0o755)
    env = isolated_env(tmp_path, PATH=f"{fake_bin}{os.pathsep}{BIN}",
                       XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    r = _port_server(env, "install-service", "--port", "51298")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "cfg" / "systemd" / "user" / "port-server.service").is_file()
    assert calls.read_text().splitlines() == [
        "--user daemon-reload", "--user enable --now port-server.service"]
    assert "enabled and started" in r.stdout


def test_plain_server_flags_still_work(tmp_path: Path) -> None:
    env = isolated_env(tmp_path)
    assert _port_server(env, "--version").stdout.startswith("port-server ")
    assert "install-service" in _port_server(env, "--help").stdout
    bad = _port_server(env, "--no-such-flag")
    assert bad.returncode == 2


def test_portctl_start_logs_to_data_dir_and_waits_for_health(tmp_path: Path) -> None:
    port = free_port()
    env = isolated_env(tmp_path, PORT_SERVER_ADDR=f"127.0.0.1:{port}")

    def portctl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "portctl"), *args], env=env, capture_output=True,
                              text=True, timeout=60)

    started = portctl("start")
    try:
        assert started.returncode == 0, started.stderr
        log = Path(env["PORT_SERVER_HOME"]) / "port-server.log"
        assert f"log {log}" in started.stdout
        # start returned only once /healthz answered: the very next call succeeds
        assert portctl("health").returncode == 0
        assert "listening on" in log.read_text()
        again = portctl("start")
        assert again.returncode == 0 and "already running" in again.stdout
    finally:
        stopped = portctl("stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert portctl("health").returncode == 3
