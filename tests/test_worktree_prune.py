"""Which recorded worktrees are gone (real git worktrees), and orphans: listeners on ports whose
holder is gone, reported by the live scan and stopped by `prune --orphans --kill` (real
processes; only the caller's own, only with --kill)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import BIN, ServerProc, make_server, require_root, require_tool
from port_server import worktrees
from port_server.models import Allocation, Listener
from port_server.scanners.live import ended_holders, join
from test_run import _fetch, _wait_for_pid, private_pool
from worktree_helpers import add_worktree, git, make_repo


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProc]:
    server = make_server(tmp_path_factory.mktemp("prune"), config=private_pool()).start()
    try:
        yield server
    finally:
        server.stop()


def test_worktree_state_from_the_file_system(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, "shop", {"README": "x"})
    one = add_worktree(repo, tmp_path / "one", "one")
    two = add_worktree(repo, tmp_path / "two", "two")
    plain = tmp_path / "plain"
    plain.mkdir()
    assert worktrees.state(str(repo)) == worktrees.LIVE
    assert worktrees.state(str(one)) == worktrees.LIVE
    assert worktrees.state(str(plain)) == worktrees.LIVE  # not git: live while it exists
    git("worktree", "remove", str(one), cwd=repo)
    assert worktrees.state(str(one)) == worktrees.GONE
    # The folder is still there, but the repository no longer lists it.
    shutil.rmtree(repo / ".git" / "worktrees" / "two")
    assert worktrees.state(str(two)) == worktrees.GONE
    # A name git reuses for another folder does not keep the old folder alive.
    three = add_worktree(repo, tmp_path / "elsewhere" / "two", "three")
    assert worktrees.state(str(three)) == worktrees.LIVE
    assert worktrees.state(str(two)) == worktrees.GONE
    # Cannot tell: never "gone".
    assert worktrees.state("") == worktrees.UNKNOWN
    assert worktrees.state("relative/path") == worktrees.UNKNOWN
    assert worktrees.state(str(repo / "README" / "x")) == worktrees.UNKNOWN
    stale = worktrees.stale([_alloc(1, str(one)), _alloc(2, str(repo)), _alloc(3, "")])
    assert [(a.id, why) for a, why in stale] == [(1, f"worktree {one} is gone")]


def _alloc(alloc_id: int, path: str = "", **kw: object) -> Allocation:
    return Allocation(id=alloc_id, app="a", instance="i", service=f"s{alloc_id}",
                      port=40000 + alloc_id, created_at="", path=path, **kw)  # type: ignore[arg-type]


def test_join_marks_orphans_and_ended_holders_finds_them(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    gone = tmp_path / "removed-worktree"
    allocs = [_alloc(1, pid=dead.pid, source="run"), _alloc(2, path=str(gone)),
              _alloc(3, path=str(tmp_path)), _alloc(4, path=str(gone))]
    listening = {(a.port, "tcp") for a in allocs[:3]}  # nothing listens on 4: it is "down"
    ended = ended_holders(allocs, listening)
    assert ended == {1: f"its process (pid {dead.pid}) has exited",
                     2: f"its worktree {gone} is gone"}
    listeners = [Listener("tcp", "127.0.0.1", a.port, pid=os.getpid(), name="python")
                 for a in allocs[:3]]
    states = {r.port: (r.state, r.reason) for r in join(allocs, listeners, ended)}
    assert states[40001][0] == states[40002][0] == "orphan"
    assert "is gone; pid" in states[40002][1] and "still listens" in states[40002][1]
    assert states[40003][0] == "ok" and states[40004][0] == "down"


def _detached_run(srv: ServerProc, folder: Path, service: str, *cmd: str) -> tuple[int, int]:
    """Start `portctl run` in ``folder``, then kill portctl itself (a dead agent session):
    (the allocated port, the pid of the child it leaves behind)."""
    proc = subprocess.Popen([str(BIN / "portctl"), "run", "--service", service, "--", *cmd],
                            env=srv.env, cwd=folder, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    alloc = _wait_for_pid(srv, service, timeout=30)
    assert alloc.pid is not None
    _fetch(alloc.port) if "http.server" in cmd else _wait_listening(alloc.port)
    proc.kill()
    proc.wait()
    return alloc.port, alloc.pid


def _wait_listening(port: int, timeout: float = 20) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:  # a zombie has exited
        return fh.read().split(")")[-1].split()[0] != "Z"


STUBBORN = """
import signal, socket, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
time.sleep(600)
"""


def test_orphans_of_a_removed_worktree_are_stopped_only_with_kill(srv: ServerProc,
                                                                 tmp_path: Path) -> None:
    repo = make_repo(tmp_path, "kiosk", {"README": "x", "stubborn.py": STUBBORN})
    wt = add_worktree(repo, tmp_path / "kiosk-agent", "agent")
    web, web_pid = _detached_run(srv, wt, "web", sys.executable, "-m", "http.server",
                                 "--bind", "127.0.0.1")
    hold, hold_pid = _detached_run(srv, wt, "hold", sys.executable, "stubborn.py", "{port}")
    try:
        rows = json.loads(srv.portctl("scan", "--json", "--state", "orphan").stdout)["rows"]
        assert rows == []  # the worktree is still there: its servers are not orphans
        git("worktree", "remove", "--force", str(wt), cwd=repo)
        report = json.loads(srv.portctl("scan", "--json", "--state", "orphan").stdout)
        assert {r["port"] for r in report["rows"]} == {web, hold}
        assert all("is gone" in r["reason"] for r in report["rows"])
        text = srv.portctl("scan", "--state", "orphan").stdout
        assert f"orphan on {web}/tcp: " in text and "prune --orphans --kill" in text
        # Without --kill nothing is stopped (and a dry run releases nothing either).
        r = srv.portctl("prune", "--orphans", "--dry-run", "--json")
        planned = json.loads(r.stdout)
        assert {o["pid"] for o in planned["orphans"]} == {web_pid, hold_pid}
        assert {o["action"] for o in planned["orphans"]} == {"would stop (add --kill)"}
        assert _alive(web_pid) and _alive(hold_pid)
        r = srv.portctl("prune", "--orphans", "--kill", "--timeout", "1")
        assert r.returncode == 0, r.stderr
        assert f"pid {web_pid} (python" in r.stdout and "stopped (TERM)" in r.stdout
        assert "killed (KILL after 1s)" in r.stdout  # the one that ignores TERM
        deadline = time.monotonic() + 10
        while (_alive(web_pid) or _alive(hold_pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(web_pid) and not _alive(hold_pid)
        assert json.loads(srv.portctl("list", "--app", "kiosk", "--json").stdout) == []
        r = srv.portctl("prune", "--kill")
        assert r.returncode == 2 and "--kill needs --orphans" in r.stderr
    finally:
        for pid in (web_pid, hold_pid):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_another_users_orphan_is_left_alone(srv: ServerProc, tmp_path: Path) -> None:
    require_root("start a listener as another user (nobody)")
    repo = make_repo(tmp_path, "booth", {"README": "x"})
    wt = add_worktree(repo, tmp_path / "booth-x", "x")
    r = srv.portctl("allocate", "--service", "theirs", "--json", cwd=wt)
    alloc = json.loads(r.stdout)
    assert alloc["path"] == str(wt.resolve())
    python = require_tool("python3", "a system Python 3 that other users may run",
                          ["/usr/bin/python3"]) if not Path("/usr/bin/python3").exists() \
        else "/usr/bin/python3"
    theirs = subprocess.Popen([python, "-m", "http.server", str(alloc["port"]), "--bind",
                               "127.0.0.1"], user="nobody", cwd="/", stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        _wait_listening(alloc["port"])
        shutil.rmtree(wt)
        r = srv.portctl("prune", "--orphans", "--kill", "--json")
        orphans = json.loads(r.stdout)["orphans"]
        assert [(o["pid"], o["action"]) for o in orphans] == [
            (theirs.pid, "left alone (not a process of yours)")]
        assert theirs.poll() is None
    finally:
        theirs.kill()
        theirs.wait()
