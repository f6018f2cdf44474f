"""``.env`` writer: ``NAME=port`` lines, and an in-place update that changes only those lines.

``update_env_text`` keeps every other byte of the file as it was: comments, blank lines, ordering,
quoting of unrelated values, CRLF line endings, a missing final newline. A line that sets one of
the names (``NAME=...``, ``export NAME=...``, spaces around ``=``) gets the new value, keeping its
prefix and a trailing `` # comment``; names not in the file are appended at the end.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_LINE = re.compile(r"^(?P<prefix>\s*(?:export\s+)?)(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)"
                   r"(?P<eq>\s*=\s*)(?P<value>[^\r\n]*?)(?P<comment>\s+#[^\r\n]*)?(?P<eol>\r?\n?)$")
VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def render_env(values: Mapping[str, int | str]) -> str:
    """``NAME=value`` lines in the given order."""
    return "".join(f"{name}={value}\n" for name, value in values.items())


@dataclass
class EnvUpdate:
    text: str
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def update_env_text(text: str, values: Mapping[str, int | str]) -> EnvUpdate:
    """``text`` with each name in ``values`` set; everything else byte for byte the same."""
    wanted = {name: str(value) for name, value in values.items()}
    seen: set[str] = set()
    result = EnvUpdate(text="")
    out: list[str] = []
    for line in text.splitlines(keepends=True):
        m = _LINE.match(line)
        if m is None or m.group("name") not in wanted:
            out.append(line)
            continue
        name = m.group("name")
        current = m.group("value").strip().strip("'\"")
        if current == wanted[name]:
            if name not in seen:
                result.unchanged.append(name)
            out.append(line)
        else:
            if name not in seen:
                result.changed.append(name)
            out.append(f"{m.group('prefix')}{name}{m.group('eq')}{wanted[name]}"
                       f"{m.group('comment') or ''}{m.group('eol')}")
        seen.add(name)
    missing = [name for name in wanted if name not in seen]
    if missing:
        eol = "\r\n" if "\r\n" in text else "\n"
        if out and not out[-1].endswith("\n"):
            out[-1] += eol
        out.extend(f"{name}={wanted[name]}{eol}" for name in missing)
        result.added = missing
    result.text = "".join(out)
    return result
