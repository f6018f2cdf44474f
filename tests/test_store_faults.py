"""Store faults with real files under a real server: a disk that fills up, a chmod'd database, a
corrupted tail, a removed data dir. Each is a 503 ``store_unavailable`` naming its cause (with
Retry-After), never a 500 or a dropped connection; /healthz says the same; nothing is
acknowledged that is not durable; the server starts again once the fault is gone."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import ServerProc, make_server, require_root


def post_alloc(srv: ServerProc, service: str, note: str = "") -> tuple[int, dict[str, str], Any]:
    """POST one allocation on a fresh connection; a dropped connection fails the test."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        body = json.dumps({"app": "f", "instance": "i", "service": service, "note": note})
        conn.request("POST", "/v1/allocations", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        headers = {k.lower(): v for k, v in resp.getheaders()}
        return resp.status, headers, json.loads(resp.read())
    finally:
        conn.close()


def get(srv: ServerProc, path: str) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def assert_refused(answer: tuple[int, dict[str, str], Any], cause: str) -> None:
    status, headers, body = answer
    assert status == 503, body
    assert body["code"] == "store_unavailable" and body["cause"] == cause, body
    assert headers.get("retry-after") == "2"
    assert "\n" not in body["message"]


def wait_health(srv: ServerProc, status: int, timeout: float = 15) -> Any:
    """/healthz's body once it answers ``status`` (its result is cached a few seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        got, body = get(srv, "/healthz")
        if got == status or time.monotonic() > deadline:
            assert got == status, body
            return body
        time.sleep(0.2)


def one_line_start_failure(srv: ServerProc) -> str:
    """Start ``srv`` expecting it to refuse; its stderr, which must be one line."""
    out = subprocess.run([str(Path(sys.executable).parent / "port-server"), "--port",
                          str(srv.port), *srv.args], env=srv.env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode != 0
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    return lines[0]


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs of our own (root only), unmounted afterwards."""
    require_root("mount a small tmpfs that fills up")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mnt)],
                   check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(directory: Path) -> Path:
    """Fill the filesystem holding ``directory``; the filler file."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_is_503_disk_full_then_writes_resume(tmp_path: Path, tmpfs: Path) -> None:
    data = tmpfs / "data"
    srv = make_server(tmp_path, env={"PORT_SERVER_HOME": str(data)}).start()
    try:
        acked = [post_alloc(srv, f"before{i}")[2] for i in range(5)]
        filler = fill(tmpfs)
        answers = [post_alloc(srv, f"full{i}") for i in range(60)]  # enough to need new pages
        refused = [a for a in answers if a[0] != 201]
        assert refused, "the disk never filled up"
        for answer in refused:
            assert_refused(answer, "disk_full")
        assert "full" in wait_health(srv, 503)["message"]
        health = srv.portctl("health")
        assert health.returncode == 1 and "disk_full" in health.stderr
        acked += [a[2] for a in answers if a[0] == 201]
        filler.unlink()
        assert post_alloc(srv, "after")[0] == 201
        wait_health(srv, 200)
    finally:
        srv.stop()
    srv.start()
    try:
        with srv.client() as client:
            registry = {(a.id, a.port) for a in client.list()}
        assert {(a["id"], a["port"]) for a in acked} <= registry
    finally:
        srv.stop()


def test_starting_on_a_full_disk_or_a_read_only_dir_is_one_line(tmp_path: Path,
                                                                 tmpfs: Path) -> None:
    data = tmpfs / "data"
    srv = make_server(tmp_path, env={"PORT_SERVER_HOME": str(data)})
    srv.start()
    srv.stop()
    filler = fill(tmpfs)
    line = one_line_start_failure(srv)
    assert "full" in line and str(data) in line
    filler.unlink()
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    line = one_line_start_failure(srv)
    assert "not writable" in line or "Read-only" in line, line


def test_a_read_only_database_is_503_and_leaves_nothing_behind(tmp_path: Path) -> None:
    srv = make_server(tmp_path).start()
    db = srv.data_dir / "registry.db"
    try:
        assert post_alloc(srv, "a")[0] == 201
        db.chmod(0o444)
        assert_refused(post_alloc(srv, "b"), "read_only")
        assert "read-only" in wait_health(srv, 503)["message"]
        doctor = srv.portctl("doctor")
        assert doctor.returncode == 1 and "read-only" in doctor.stdout
    finally:
        srv.stop()
    line = one_line_start_failure(srv)  # a read-only database: refused, nothing created
    assert "read-only" in line and "chmod u+w" in line
    for side in ("-shm", "-wal"):
        path = Path(f"{db}{side}")
        assert not path.exists() or path.stat().st_mode & stat.S_IWUSR, side
    # A -shm file left read-only (by an older version) is repaired at the next start.
    db.chmod(0o644)
    Path(f"{db}-shm").write_bytes(b"\0" * 32768)
    Path(f"{db}-shm").chmod(0o444)
    srv.start()
    try:
        assert post_alloc(srv, "c")[0] == 201
        with srv.client() as client:
            assert {a.service for a in client.list()} == {"a", "c"}
    finally:
        srv.stop()


def test_a_corrupted_tail_is_503_corrupt(tmp_path: Path) -> None:
    srv = make_server(tmp_path).start()
    try:
        for i in range(200):
            assert post_alloc(srv, f"s{i}", note="x" * 400)[0] == 201
    finally:
        srv.stop()  # a clean stop checkpoints the WAL into the file
    db = srv.data_dir / "registry.db"
    size = db.stat().st_size
    with db.open("r+b") as fh:  # garbage over the last 16 KiB
        fh.seek(size - 16384)
        fh.write(os.urandom(16384))
    srv.start(healthy=False)
    try:
        body = wait_health(srv, 503)
        assert body["cause"] == "corrupt" and "corrupt" in body["message"]
        answers = [post_alloc(srv, f"new{i}") for i in range(20)]
        assert {a[0] for a in answers} <= {201, 503}
        for answer in answers:
            if answer[0] == 503:
                assert answer[2]["code"] == "store_unavailable"
        doctor = srv.portctl("doctor")
        assert doctor.returncode == 1 and "corrupt" in doctor.stdout
    finally:
        srv.stop()


def test_a_removed_data_dir_refuses_writes_instead_of_losing_them(tmp_path: Path) -> None:
    srv = make_server(tmp_path).start()
    try:
        assert post_alloc(srv, "kept")[0] == 201
        shutil.rmtree(srv.data_dir)
        assert_refused(post_alloc(srv, "lost"), "removed")
        srv.data_dir.mkdir()  # replaced by a new, empty directory: still refused
        assert_refused(post_alloc(srv, "lost2"), "removed")
        body = wait_health(srv, 503)
        assert body["cause"] == "removed" and "restart port-server" in body["message"]
        health = srv.portctl("health")
        assert health.returncode == 1 and "removed" in health.stderr
        status, _ = get(srv, "/livez")
        assert status == 200  # alive, only not ready
    finally:
        srv.stop()


def test_the_client_retries_an_allocation_through_a_brief_fault(tmp_path: Path) -> None:
    """A 503 with Retry-After is retried for allocation (safe: idempotent by identity): a
    database made read-only for a second costs the caller a wait, not an error."""
    from port_server.client import RETRIES, RETRY_BUDGET
    from port_server.errors import StoreUnavailable
    from port_server.models import AllocationRequest

    srv = make_server(tmp_path).start()
    db = srv.data_dir / "registry.db"
    try:
        assert post_alloc(srv, "first")[0] == 201
        db.chmod(0o444)
        timer = threading.Timer(1.0, db.chmod, (0o644,))
        timer.start()
        started = time.monotonic()
        with srv.client() as client:
            result = client.allocate(AllocationRequest(app="f", instance="i", service="retried"))
        timer.join()
        assert result.created and time.monotonic() - started >= 0.9
        # A fault that lasts: bounded retries, then the 503 itself (cause included).
        shutil.rmtree(srv.data_dir)
        started = time.monotonic()
        with srv.client() as client, pytest.raises(StoreUnavailable) as err:
            client.allocate(AllocationRequest(app="f", instance="i", service="never"))
        waited = time.monotonic() - started
        assert err.value.extra["cause"] == "removed"
        assert 2.0 * RETRIES * 0.9 <= waited <= RETRY_BUDGET + 5
        # /healthz is never retried: its answer is the point.
        started = time.monotonic()
        with srv.client() as client, pytest.raises(StoreUnavailable):
            client.health()
        assert time.monotonic() - started < 1.5
    finally:
        srv.stop()
