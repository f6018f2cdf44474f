"""justfiles (``justfile``, ``Justfile``, ``.justfile``, ``*.just``): ports in recipe bodies.

A recipe is ``name param="default" *rest: deps`` followed by indented lines; ``{{ param }}`` takes
the parameter's default (the claim is marked as a default), ``{{ var }}`` a ``var := "value"``
assignment. Each line runs in its own shell; a body starting with ``#!`` is one script. With
``set dotenv-load`` the project's ``.env`` variables resolve ``$VAR``. The recipe is the claim's
service.
"""

from __future__ import annotations

import re

from port_server.models import PortClaim
from port_server.scanners.base import SourceFile, base_name
from port_server.scanners.interpolate import UNRESOLVED
from port_server.scanners.shell_text import command_claims

_VALUE = r"(?:\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^\s:'\"]+)"
_RECIPE = re.compile(rf"^@?([A-Za-z_][\w-]*)((?:\s+[+*]?\$?[\w-]+(?:={_VALUE})?)*)\s*"
                     r":(?![=:])(.*)$")
_PARAM = re.compile(r"([+*]?\$?)([A-Za-z_][\w-]*)(?:=(\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^\s\"']+))?")
_VARIABLE = re.compile(r"^(?:export\s+)?([A-Za-z_][\w-]*)\s*:=\s*(.+)$")
_STRING = re.compile(r"\"((?:[^\"\\]|\\.)*)\"|'([^']*)'")
_INTERP = re.compile(r"\{\{(?!\{)\s*(.*?)\s*\}\}")
_DOTENV = re.compile(r"^set\s+dotenv-load(?:\s*:=\s*true)?\s*$", re.MULTILINE)


def is_justfile(rel: str) -> bool:
    name = base_name(rel)
    return name.lower() in ("justfile", ".justfile") or name.endswith(".just")


def scan_justfile(src: SourceFile) -> list[PortClaim]:
    lines = src.text.splitlines()
    variables: dict[str, str] = {}
    claims: list[PortClaim] = []
    env = dict(src.dotenv) if _DOTENV.search(src.text) else {}
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line or line[0].isspace() or line.startswith(("#", "[", "set ", "alias ",
                                                              "import ", "mod ")):
            continue
        if m := _VARIABLE.match(line):
            value = _expression(m.group(2), variables)
            if value is not None:
                variables[m.group(1)] = value
            continue
        m = _RECIPE.match(line)
        if m is None:
            continue
        start = i
        body: list[str] = []
        while i < len(lines) and (not lines[i].strip() or lines[i][:1].isspace()):
            body.append(lines[i])
            i += 1
        claims.extend(_recipe(src, m.group(1), m.group(2), start, body, variables, env))
    return claims


def _recipe(src: SourceFile, name: str, params_text: str, start: int, body: list[str],
            variables: dict[str, str], env: dict[str, str]) -> list[PortClaim]:
    params: dict[str, str | None] = {}
    for p in _PARAM.finditer(params_text):
        default = p.group(3)
        params[p.group(2)] = None if default is None else (
            _expression(default, variables) if default[0] in "'\"" else
            variables.get(default, default))
    defaulted = {k for k, v in params.items() if v is not None}
    scope = {**variables, **{k: v for k, v in params.items() if v is not None}}
    texts = _joined([line.strip() for line in body])
    out: list[PortClaim] = []
    if texts and texts[0].startswith("#!"):
        script, uses = _expand("\n".join(texts[1:]), scope, defaulted)
        return command_claims(src, "just", name, start + 2, script, env,
                              frozenset(uses))
    for offset, text in enumerate(texts):
        if not text or text.startswith("#"):
            continue
        command, uses = _expand(text.lstrip("@-"), scope, defaulted)
        found = command_claims(src, "just", name, start + 1 + offset, command, env)
        if uses:
            found = [c.replace(note=f"default of recipe parameter {', '.join(sorted(uses))}",
                               extra={**c.extra, "default": True}) for c in found]
        out.extend(found)
    return out


def _joined(lines: list[str]) -> list[str]:
    """Backslash continuations joined; the joined line keeps the first line's place and the
    lines it swallowed become blank, so offsets still count real lines."""
    out: list[str] = []
    carry: list[str] = []
    for line in lines:
        if line.endswith("\\"):
            carry.append(line[:-1].strip())
            out.append("")
            continue
        if carry:
            out[len(out) - len(carry)] = " ".join([*carry, line])
            carry = []
            out.append("")
        else:
            out.append(line)
    if carry:
        out[len(out) - len(carry)] = " ".join(carry)
    return out


def _expand(text: str, scope: dict[str, str], defaulted: set[str]) -> tuple[str, set[str]]:
    """``{{ name }}`` from ``scope``; unknown expressions stay unresolved."""
    used: set[str] = set()

    def sub(m: re.Match[str]) -> str:
        value = _expression(m.group(1), scope)
        if value is None:
            return UNRESOLVED
        used.update(n for n in defaulted if re.search(rf"\b{re.escape(n)}\b", m.group(1)))
        return value

    return _INTERP.sub(sub, text.replace("{{{{", "\ue002")).replace("\ue002", "{{"), used


def _expression(text: str, scope: dict[str, str]) -> str | None:
    """A just expression made of strings, names and ``+``/``/``; None when it is more."""
    parts: list[str] = []
    for piece in re.split(r"\s*([+/])\s*", text.strip()):
        if piece in ("+", "/"):
            parts.append("" if piece == "+" else "/")
        elif m := _STRING.fullmatch(piece):
            parts.append(m.group(1) if m.group(1) is not None else m.group(2))
        elif piece in scope:
            parts.append(scope[piece])
        else:
            return None
    return "".join(parts)
