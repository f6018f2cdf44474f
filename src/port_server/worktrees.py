"""Is a recorded worktree still there? Read from the file system only (no git subprocess).

An allocation made by ``portctl up`` records the worktree folder it came from (``path``). The
folder is **gone** when it no longer exists, or when it is a linked worktree that its repository
no longer lists (``git worktree remove``/``prune`` deleted ``.git/worktrees/<name>``, or that
name now belongs to another folder). A main worktree (``.git`` is a folder) or a plain folder is
**live** while it exists. Anything this process may not look at is **unknown**, never gone:
pruning only ever acts on a definite answer.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from port_server.models import Allocation

LIVE, GONE, UNKNOWN = "live", "gone", "unknown"


def _read(path: str) -> str | None:
    try:
        with open(path, errors="replace") as fh:
            return fh.read().strip()
    except FileNotFoundError:
        return None


def state(path: str) -> str:
    """live, gone or unknown (see the module docstring) for a recorded worktree ``path``."""
    if not path or not os.path.isabs(path):
        return UNKNOWN
    try:
        os.stat(path)
        dot_git = os.path.join(path, ".git")
        if os.path.isdir(dot_git) or not os.path.lexists(dot_git):
            return LIVE
        text = _read(dot_git) or ""
        if not text.startswith("gitdir:"):
            return LIVE
        admin = os.path.normpath(os.path.join(path, text[len("gitdir:"):].strip()))
        if not os.path.isdir(admin):
            return GONE  # the repository no longer has this worktree
        back = _read(os.path.join(admin, "gitdir"))
        if back is None:
            return GONE
        listed = os.path.normpath(os.path.join(admin, back))
        if os.path.realpath(os.path.dirname(listed)) != os.path.realpath(path):
            return GONE  # the name now belongs to another worktree
        return LIVE
    except FileNotFoundError:
        return GONE
    except OSError:  # permission denied, a stale mount...: cannot tell
        return UNKNOWN


def stale(allocs: Iterable[Allocation]) -> list[tuple[Allocation, str]]:
    """The allocations whose recorded worktree is gone, each with the reason (one look per
    folder): what ``portctl prune``, the dashboard's prune and the server's auto-prune release."""
    seen: dict[str, str] = {}
    out = []
    for alloc in allocs:
        if not alloc.path:
            continue
        if alloc.path not in seen:
            seen[alloc.path] = state(alloc.path)
        if seen[alloc.path] == GONE:
            out.append((alloc, f"worktree {alloc.path} is gone"))
    return out
