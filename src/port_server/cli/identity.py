"""Default app and instance names from the working directory, read from .git files (no subprocess).

app: the repository's name (for a linked worktree, the main repository's), else the folder name.
instance: a linked worktree's folder name, else the checked-out branch, else "default".
"""

from __future__ import annotations

import re
from pathlib import Path

_BAD = re.compile(r"[^A-Za-z0-9._-]+")


def sanitize(name: str) -> str:
    """Fold any text into a valid registry name ([A-Za-z0-9][A-Za-z0-9._-]{0,62})."""
    cleaned = _BAD.sub("-", name).strip("-._")[:63]
    return cleaned or "default"


def find_git(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def _git_dir(top: Path) -> Path:
    dot_git = top / ".git"
    if dot_git.is_file():  # a linked worktree: "gitdir: /main/.git/worktrees/<name>"
        text = dot_git.read_text(errors="replace").strip()
        if text.startswith("gitdir:"):
            path = Path(text[len("gitdir:"):].strip())
            return path if path.is_absolute() else (top / path).resolve()
    return dot_git


def _branch(git_dir: Path) -> str | None:
    try:
        head = (git_dir / "HEAD").read_text().strip()
    except OSError:
        return None
    if head.startswith("ref: refs/heads/"):
        return head[len("ref: refs/heads/"):]
    return None


def detect(cwd: Path | None = None) -> tuple[str, str]:
    """(app, instance) for the directory ``cwd`` (default: the current one)."""
    here = (cwd or Path.cwd()).resolve()
    top = find_git(here)
    if top is None:
        return sanitize(here.name), "default"
    git_dir = _git_dir(top)
    if git_dir.parent.name == "worktrees":  # <main>/.git/worktrees/<name>
        main_top = git_dir.parent.parent.parent
        return sanitize(main_top.name), sanitize(top.name)
    branch = _branch(git_dir)
    return sanitize(top.name), sanitize(branch) if branch else "default"
