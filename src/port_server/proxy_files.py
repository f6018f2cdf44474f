"""Files the proxy writes: its state, and an optional block of names in /etc/hosts.

Browsers and curl send ``*.localhost`` to loopback by themselves; other clients (some language
runtimes, older resolvers) look in /etc/hosts, where ``portctl proxy hosts --write`` keeps one
marked block of names and leaves every other line as it was.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

BEGIN = "# BEGIN port-server proxy names (managed by `portctl proxy hosts --write`)"
END = "# END port-server proxy names"


def write_text_safely(path: Path, text: str) -> None:
    """Write ``text`` to ``path``: a random temp file beside it, fsync, rename; the target's
    mode is kept, and a symlink target is written through (its link stays a link)."""
    target = Path(os.path.realpath(path))
    try:
        mode: int | None = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=str(target.parent))
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode if mode is not None else 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def hosts_block(names: Iterable[str]) -> str:
    lines = [f"127.0.0.1 {name}" for name in names]
    return "\n".join([BEGIN, *lines, END]) + "\n"


def merge_hosts(text: str, names: Iterable[str]) -> str:
    """``text`` (an /etc/hosts) with our block replaced by one for ``names`` (or removed when
    there are none); every other line is kept as it was."""
    out: list[str] = []
    inside = False
    for line in text.splitlines(keepends=True):
        if line.rstrip("\n") == BEGIN:
            inside = True
            continue
        if inside:
            if line.rstrip("\n") == END:
                inside = False
            continue
        out.append(line)
    kept = "".join(out)
    names = list(names)
    if not names:
        return kept
    if kept and not kept.endswith("\n"):
        kept += "\n"
    return kept + hosts_block(names)
