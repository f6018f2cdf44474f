"""The server's side of prune: POST /v1/prune (the dashboard's button) and the opt-in
automatic prune ([worktrees] auto_prune), with real git worktrees and a real server."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

from conftest import make_server
from test_run import private_pool
from worktree_helpers import add_worktree, git, make_repo


def post(addr: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(f"http://{addr}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_prune_endpoint_lists_then_releases(tmp_path: Path) -> None:
    srv = make_server(tmp_path / "srv", config=private_pool()).start()
    try:
        repo = make_repo(tmp_path, "mall", {"README": "x"})
        wt = add_worktree(repo, tmp_path / "mall-x", "x")
        for folder, service in ((repo, "web"), (wt, "web"), (wt, "db")):
            assert srv.portctl("allocate", "--service", service, cwd=folder).returncode == 0
        git("worktree", "remove", str(wt), cwd=repo)
        status, plan = post(srv.addr, "/v1/prune", {"dry_run": True})
        assert status == 200 and plan["dry_run"] is True
        assert sorted(a["service"] for a in plan["released"]) == ["db", "web"]
        assert all(a["instance"] == "mall-x" and "is gone" in a["reason"]
                   for a in plan["released"])
        assert len(srv.client().list()) == 3
        status, done = post(srv.addr, "/v1/prune", {})
        assert status == 200 and len(done["released"]) == 2
        assert [(a.instance, a.path) for a in srv.client().list()] == [
            ("mall", str(repo.resolve()))]
        status, bad = post(srv.addr, "/v1/prune", {"dry_run": "maybe"})
        assert status == 400 and "dry_run" in bad["message"]
        # Allocations carry the path over the API too, and a relative one is refused.
        status, bad = post(srv.addr, "/v1/allocations", {"app": "a", "instance": "b",
                                                         "service": "c", "path": "rel/x"})
        assert status == 400 and bad["message"].startswith("path: 'rel/x' is not absolute")
    finally:
        srv.stop()


def test_auto_prune_is_opt_in(tmp_path: Path) -> None:
    config = private_pool() + ('[security]\nreap_interval = 0.2\n'
                               '[worktrees]\nauto_prune = true\nprune_interval = "1s"\n')
    srv = make_server(tmp_path / "srv", config=config).start()
    try:
        repo = make_repo(tmp_path, "arcade", {"README": "x"})
        wt = add_worktree(repo, tmp_path / "arcade-y", "y")
        assert srv.portctl("allocate", "--service", "web", cwd=wt).returncode == 0
        assert srv.portctl("allocate", "--service", "web", cwd=repo).returncode == 0
        git("worktree", "remove", str(wt), cwd=repo)
        deadline = time.monotonic() + 20
        while len(srv.client().list()) > 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [a.instance for a in srv.client().list()] == ["arcade"]
        assert "arcade/arcade-y/web" in srv.log_text()
        log = srv.portctl("log", "--json").stdout
        assert "worktree-prune" in log
    finally:
        srv.stop()
    # Off by default; a bad setting stops the server with the key's name.
    bad = make_server(tmp_path / "bad", config='[worktrees]\nauto_prune = "yes"\n')
    try:
        bad.start(timeout=10)
        raise AssertionError("the server started with a bad [worktrees] table")
    except RuntimeError as exc:
        assert "worktrees.auto_prune: use true or false" in str(exc)
    finally:
        bad.stop()
