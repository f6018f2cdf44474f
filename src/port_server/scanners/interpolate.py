"""Compose-style variable interpolation: ``$VAR``, ``${VAR}``, ``${VAR:-d}``, ``${VAR-d}``,
``${VAR:?err}``, ``${VAR?err}``, ``${VAR:+alt}``, ``${VAR+alt}`` and ``$$``, as compose-go does it,
plus the shell's ``${VAR:=d}``/``${VAR=d}`` (Procfiles and task runners use them; for a value
they read as ``:-``/``-``).

Defaults may themselves hold variables (``${A:-${B:-80}}``). A variable that has no value and no
default is not guessed: the result records its name in ``missing`` and, where it stood, a marker
(``UNRESOLVED``) that the port parsers recognise, so "${HTTP_PORT}:80" is reported as an unresolved
host port instead of compose's empty string (which would look container-only).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

#: Stands in for a variable that has no value; a private-use character no real file contains.
UNRESOLVED = "\ue000"

_NAME_START = re.compile(r"[A-Za-z_]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MAX_DEPTH = 16


@dataclass
class Interpolated:
    text: str
    missing: list[str] = field(default_factory=list)

    @property
    def resolved(self) -> bool:
        return not self.missing


def interpolate(text: str, env: Mapping[str, str]) -> Interpolated:
    """Substitute variables in ``text`` from ``env`` (compose semantics, see module doc)."""
    if "$" not in text:
        return Interpolated(text)
    missing: list[str] = []
    out, _ = _substitute(text, 0, env, missing, depth=0, stop="")
    return Interpolated(out, missing)


def _substitute(text: str, pos: int, env: Mapping[str, str], missing: list[str], depth: int,
                stop: str) -> tuple[str, int]:
    """Expand from ``pos`` until ``stop`` (a closing brace at this nesting level) or the end."""
    parts: list[str] = []
    n = len(text)
    while pos < n:
        ch = text[pos]
        if stop and ch == stop:
            return "".join(parts), pos
        if ch != "$":
            parts.append(ch)
            pos += 1
            continue
        nxt = text[pos + 1] if pos + 1 < n else ""
        if nxt == "$":
            parts.append("$")
            pos += 2
        elif nxt == "{" and depth < _MAX_DEPTH:
            value, pos = _braced(text, pos + 2, env, missing, depth)
            parts.append(value)
        elif nxt and _NAME_START.match(nxt):
            m = _NAME.match(text, pos + 1)
            assert m is not None
            parts.append(_lookup(m.group(0), env, missing))
            pos = m.end()
        else:
            parts.append("$")
            pos += 1
    return "".join(parts), pos


def _lookup(name: str, env: Mapping[str, str], missing: list[str]) -> str:
    if name in env:
        return env[name]
    missing.append(name)
    return UNRESOLVED


def _braced(text: str, pos: int, env: Mapping[str, str], missing: list[str],
            depth: int) -> tuple[str, int]:
    """``pos`` is just after ``${``; returns the value and the position after the ``}``."""
    m = _NAME.match(text, pos)
    if m is None:  # not a variable: keep the text as written
        end = text.find("}", pos)
        end = len(text) if end < 0 else end + 1
        return text[pos - 2:end], end
    name = m.group(0)
    pos = m.end()
    op = ""
    for candidate in (":-", ":=", ":?", ":+", "-", "=", "?", "+"):
        if text.startswith(candidate, pos):
            op = candidate
            pos += len(candidate)
            break
    arg_missing: list[str] = []
    arg, pos = _substitute(text, pos, env, arg_missing, depth + 1, stop="}") if op else ("", pos)
    if pos < len(text) and text[pos] == "}":
        pos += 1
    value = env.get(name)
    is_set = value is not None
    is_nonempty = bool(value)
    if op in (":-", "-", ":=", "="):  # the shell's assign-default reads the same here
        use_default = not is_nonempty if op in (":-", ":=") else not is_set
        if use_default:
            missing.extend(arg_missing)
            return arg, pos
        return str(value), pos
    if op in (":+", "+"):
        use_alt = is_nonempty if op == ":+" else is_set
        if use_alt:
            missing.extend(arg_missing)
            return arg, pos
        return "", pos
    if op in (":?", "?"):
        ok = is_nonempty if op == ":?" else is_set
        if ok:
            return str(value), pos
        missing.append(name)
        return UNRESOLVED, pos
    if is_set:
        return str(value), pos
    missing.append(name)
    return UNRESOLVED, pos
