"""The block of proxy names the proxy may keep in /etc/hosts (written through ``safe_write``).

Browsers and curl send ``*.localhost`` to loopback by themselves; other clients (some language
runtimes, older resolvers) look in /etc/hosts, where ``portctl proxy hosts --write`` keeps one
marked block of names and leaves every other line as it was.
"""

from __future__ import annotations

from collections.abc import Iterable

BEGIN = "# BEGIN port-server proxy names (managed by `portctl proxy hosts --write`)"
END = "# END port-server proxy names"


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
