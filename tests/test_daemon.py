"""The real port-server process: start-up guards, clean shutdown, durability settings."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from conftest import BIN, ServerProc, make_server


def test_second_server_on_same_data_dir_refuses(server: ServerProc) -> None:
    r = subprocess.run([str(BIN / "port-server"), "--port", "0"], env=server.env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "already running on data dir" in r.stderr
    assert "Traceback" not in r.stderr


def test_second_server_on_same_port_names_the_holder(server: ServerProc,
                                                     tmp_path: Path) -> None:
    other = make_server(tmp_path / "other")
    r = subprocess.run([str(BIN / "port-server"), "--port", str(server.port),
                        "--bind-retry", "0.5"], env=other.env, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 1
    assert f"cannot listen on 127.0.0.1:{server.port}" in r.stderr
    assert f"pid {server.proc.pid}" in r.stderr  # type: ignore[union-attr]


def test_sigterm_shuts_down_cleanly(server: ServerProc) -> None:
    pidfile = server.data_dir / "port-server.pid"
    assert pidfile.exists()
    assert server.stop(signal.SIGTERM) == 0
    assert not pidfile.exists()
    assert "Traceback" not in server.log_text()


def test_sqlite_is_wal_with_named_migrations(server: ServerProc) -> None:
    server.portctl("allocate", "--app", "a", "--instance", "i", "--service", "s")
    db = sqlite3.connect(server.data_dir / "registry.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    names = [r[0] for r in db.execute("SELECT name FROM schema_migrations")]
    assert "0001_allocations" in names


def test_non_loopback_host_refused(tmp_path: Path) -> None:
    srv = make_server(tmp_path)
    r = subprocess.run([str(BIN / "port-server"), "--host", "0.0.0.0", "--port", "0"],
                       env=srv.env, capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "non-loopback" in r.stderr


def test_portctl_start_status_stop(tmp_path: Path) -> None:
    srv = make_server(tmp_path)
    r = srv.portctl("start")
    assert r.returncode == 0, r.stderr
    assert "started port-server" in r.stdout
    try:
        status = srv.portctl("status")
        assert status.returncode == 0 and "running at" in status.stdout
        assert srv.portctl("health").returncode == 0
    finally:
        stop = srv.portctl("stop")
    assert stop.returncode == 0 and "stopped" in stop.stdout
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and srv.portctl("health").returncode != 3:
        time.sleep(0.1)
    assert srv.portctl("health").returncode == 3
    assert (srv.data_dir / "port-server.log").exists()
