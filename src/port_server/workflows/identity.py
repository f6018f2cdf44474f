"""Default app and instance names from the working directory, read from .git files (no subprocess).

app: the repository's name (for a linked worktree, the main repository's), else the folder name.
instance: the worktree's folder name, for the main worktree and linked ones alike, so that a
``git checkout`` never changes it (ports, containers and volumes stay with the folder); outside
git, "default". ``worktree_root`` is the folder allocations record as their ``path``.
Uses os.path rather than pathlib: this runs on portctl's fast path.
"""

from __future__ import annotations

import os

from port_server.models import registry_name


def find_git(start: str) -> str | None:
    folder = start
    while True:
        if os.path.exists(os.path.join(folder, ".git")):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def git_dir(top: str) -> str:
    dot_git = os.path.join(top, ".git")
    if os.path.isfile(dot_git):  # a linked worktree: "gitdir: /main/.git/worktrees/<name>"
        with open(dot_git, errors="replace") as fh:
            text = fh.read().strip()
        if text.startswith("gitdir:"):
            path = text[len("gitdir:"):].strip()
            return os.path.realpath(os.path.join(top, path))
    return dot_git


def detect(cwd: str | os.PathLike[str] | None = None) -> tuple[str, str]:
    """(app, instance) for the directory ``cwd`` (default: the current one)."""
    here = os.path.realpath(os.fspath(cwd) if cwd is not None else os.getcwd())
    top = find_git(here)
    if top is None:
        return registry_name(os.path.basename(here)), "default"
    gdir = git_dir(top)
    parent = os.path.dirname(gdir)
    if os.path.basename(parent) == "worktrees":  # <main>/.git/worktrees/<name>
        main_top = os.path.dirname(os.path.dirname(parent))
        return registry_name(os.path.basename(main_top)), registry_name(os.path.basename(top))
    return registry_name(os.path.basename(top)), registry_name(os.path.basename(top))


def git_worktree(cwd: str | os.PathLike[str] | None = None) -> str:
    """The git worktree ``cwd`` is in, as a real path; "" outside git (nothing to prune)."""
    here = os.path.realpath(os.fspath(cwd) if cwd is not None else os.getcwd())
    return find_git(here) or ""


def worktree_root(cwd: str | os.PathLike[str] | None = None) -> str:
    """The worktree folder ``cwd`` is in (the folder itself outside git), as a real path."""
    here = os.path.realpath(os.fspath(cwd) if cwd is not None else os.getcwd())
    return find_git(here) or here
