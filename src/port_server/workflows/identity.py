"""Default app and instance names from the working directory, read from .git files (no subprocess).

app: the repository's name (for a linked worktree, the main repository's), else the folder name.
instance: a linked worktree's folder name, else the checked-out branch, else "default".
Uses os.path rather than pathlib: this runs on portctl's fast path.
"""

from __future__ import annotations

import os

from port_server.models import registry_name

#: Kept under its old name for callers of this module.
sanitize = registry_name


def find_git(start: str) -> str | None:
    folder = start
    while True:
        if os.path.exists(os.path.join(folder, ".git")):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _git_dir(top: str) -> str:
    dot_git = os.path.join(top, ".git")
    if os.path.isfile(dot_git):  # a linked worktree: "gitdir: /main/.git/worktrees/<name>"
        with open(dot_git, errors="replace") as fh:
            text = fh.read().strip()
        if text.startswith("gitdir:"):
            path = text[len("gitdir:"):].strip()
            return os.path.realpath(os.path.join(top, path))
    return dot_git


def _branch(git_dir: str) -> str | None:
    try:
        with open(os.path.join(git_dir, "HEAD")) as fh:
            head = fh.read().strip()
    except OSError:
        return None
    if head.startswith("ref: refs/heads/"):
        return head[len("ref: refs/heads/"):]
    return None


def detect(cwd: str | os.PathLike[str] | None = None) -> tuple[str, str]:
    """(app, instance) for the directory ``cwd`` (default: the current one)."""
    here = os.path.realpath(os.fspath(cwd) if cwd is not None else os.getcwd())
    top = find_git(here)
    if top is None:
        return sanitize(os.path.basename(here)), "default"
    git_dir = _git_dir(top)
    parent = os.path.dirname(git_dir)
    if os.path.basename(parent) == "worktrees":  # <main>/.git/worktrees/<name>
        main_top = os.path.dirname(os.path.dirname(parent))
        return sanitize(os.path.basename(main_top)), sanitize(os.path.basename(top))
    branch = _branch(git_dir)
    return sanitize(os.path.basename(top)), sanitize(branch) if branch else "default"
