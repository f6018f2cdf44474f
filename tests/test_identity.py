"""Default app/instance names from git: repository, worktree folder (never the branch)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from port_server.models import registry_name
from port_server.workflows.identity import detect, worktree_root


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
                        "PATH": "/usr/bin:/bin", "HOME": str(cwd)})


def test_outside_git_uses_folder_name(tmp_path: Path) -> None:
    folder = tmp_path / "My Project"
    folder.mkdir()
    assert detect(folder) == ("My-Project", "default")


def test_repo_branch_and_worktree(tmp_path: Path) -> None:
    repo = tmp_path / "shop"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "feature/auth")
    git(repo, "commit", "-q", "--allow-empty", "-m", "init")
    (repo / "sub").mkdir()
    # The main worktree is named after its folder, whatever branch is checked out.
    assert detect(repo / "sub") == ("shop", "shop")
    git(repo, "checkout", "-q", "-b", "feature/login-page")
    assert detect(repo / "sub") == ("shop", "shop")
    git(repo, "worktree", "add", "-q", str(tmp_path / "shop-payments"), "-b", "payments")
    assert detect(tmp_path / "shop-payments") == ("shop", "shop-payments")
    assert worktree_root(tmp_path / "shop-payments") == str((tmp_path / "shop-payments").resolve())
    assert worktree_root(repo / "sub") == str(repo.resolve())


def test_sanitize() -> None:
    assert registry_name("--weird name!!") == "weird-name"
    assert registry_name("???") == "default"
    assert len(registry_name("x" * 100)) == 63
