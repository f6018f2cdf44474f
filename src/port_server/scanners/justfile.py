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
from port_server.scanners.base import SourceFile, base_name, claim, valid_port
from port_server.scanners.interpolate import UNRESOLVED
from port_server.scanners.shell_text import command_claims, from_default

_VALUE = r"(?:\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^\s:'\"]+)"
_RECIPE = re.compile(rf"^@?([A-Za-z_][\w-]*)((?:\s+[+*]?\$?[\w-]+(?:={_VALUE})?)*)\s*"
                     r":(?![=:])(.*)$")
_PARAM = re.compile(r"([+*]?\$?)([A-Za-z_][\w-]*)(?:=(\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^\s\"']+))?")
_VARIABLE = re.compile(r"^(?:export\s+)?([A-Za-z_][\w-]*)\s*:=\s*(.+)$")
_STRING = re.compile(r"\"((?:[^\"\\]|\\.)*)\"|'([^']*)'")
_INTERP = re.compile(r"\{\{(?!\{)\s*(.*?)\s*\}\}")
_ENV_CALL = re.compile(r"(env_var_or_default|env)\(\s*(?:\"[^\"]*\"|'[^']*')\s*,\s*(.+?)\s*\)")
_DOTENV = re.compile(r"^set\s+dotenv-load(?:\s*:=\s*true)?\s*$", re.MULTILINE)


def is_justfile(rel: str) -> bool:
    name = base_name(rel)
    return name.lower() in ("justfile", ".justfile") or name.endswith(".just")


def scan_justfile(src: SourceFile) -> list[PortClaim]:
    lines = src.text.splitlines()
    variables: dict[str, str] = {}
    defaulted: set[str] = set()  # variables whose value is a default (env_var_or_default)
    exported: set[str] = set()
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
            value, used = _expression(m.group(2), variables, defaulted)
            if value is not None:
                variables[m.group(1)] = value
                (defaulted.add if used else defaulted.discard)(m.group(1))
                if line.startswith("export"):
                    exported.add(m.group(1))
            continue
        m = _RECIPE.match(line)
        if m is None:
            continue
        start = i
        body: list[str] = []
        while i < len(lines) and (not lines[i].strip() or lines[i][:1].isspace()):
            body.append(lines[i])
            i += 1
        # Exported variables are the recipe's environment: they resolve $NAME in its shell.
        shell_env = {**env, **{k: variables[k] for k in exported}}
        claims.extend(_recipe(src, m.group(1), m.group(2), start, body, variables, defaulted,
                              shell_env, frozenset(exported & defaulted)))
    return claims


def _recipe(src: SourceFile, name: str, params_text: str, start: int, body: list[str],
            variables: dict[str, str], var_defaults: set[str], env: dict[str, str],
            env_defaults: frozenset[str]) -> list[PortClaim]:
    scope = dict(variables)
    defaulted = set(var_defaults)
    env = dict(env)
    exported: set[str] = set()
    for p in _PARAM.finditer(params_text):
        default = p.group(3)
        if default is None:
            scope.pop(p.group(2), None)
            continue
        value = _expression(default, variables, var_defaults)[0] if default[0] in "'\"" \
            else variables.get(default, default)
        if value is not None:
            scope[p.group(2)] = value
            defaulted.add(p.group(2))
            if "$" in p.group(1):  # web $PORT="4000": exported to the recipe's environment
                env[p.group(2)] = value
                env_defaults = env_defaults | {p.group(2)}
                exported.add(p.group(2))
    texts = _joined([line.strip() for line in body])
    out: list[PortClaim] = []
    if texts and texts[0].startswith("#!"):
        script, uses = _expand("\n".join(texts[1:]), scope, defaulted)
        out = _mark(command_claims(src, "just", name, start + 2, script, env, env_defaults),
                    uses)
    else:
        for offset, text in enumerate(texts):
            if not text or text.startswith("#"):
                continue
            command, uses = _expand(text.lstrip("@-"), scope, defaulted)
            out.extend(_mark(command_claims(src, "just", name, start + 1 + offset, command, env,
                                            env_defaults), uses))
    port = valid_port(env.get("PORT")) if "PORT" in exported else None
    if port is not None and not any(c.host_port == port for c in out):
        out = [c for c in out if c.extra.get("framework") is None]  # the app reads $PORT
        out.append(claim(src, start, "just", name, port, name, default=True,
                         note="default of the exported PORT parameter"))
    return out


def _mark(found: list[PortClaim], uses: dict[str, str]) -> list[PortClaim]:
    """Mark the claims whose port is written in a default the command used."""
    out = []
    for c in found:
        names = [n for n, value in uses.items() if c.host_port is not None and
                 from_default(c.host_port, [value])]
        out.append(c.replace(note=f"default of {', '.join(sorted(names))}",
                             extra={**c.extra, "default": True}) if names else c)
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


def _expand(text: str, scope: dict[str, str],
            defaulted: set[str]) -> tuple[str, dict[str, str]]:
    """``{{ expr }}`` from ``scope``; unknown expressions stay unresolved. Also returns the
    defaulted expressions the text used, with their values."""
    used: dict[str, str] = {}

    def sub(m: re.Match[str]) -> str:
        value, flag = _expression(m.group(1), scope, defaulted)
        if value is None:
            return UNRESOLVED
        if flag:
            used[m.group(1).strip()] = value
        return value

    return _INTERP.sub(sub, text.replace("{{{{", "\ue002")).replace("\ue002", "{{"), used


def _expression(text: str, scope: dict[str, str],
                defaulted: set[str] | frozenset[str] = frozenset()) -> tuple[str | None, bool]:
    """A just expression of strings, names, ``+``/``/`` and ``env_var_or_default(NAME, d)`` /
    ``env(NAME, d)`` (the environment is not read: the default, flagged True); None when it is
    anything else."""
    text = text.strip()
    if m := _ENV_CALL.fullmatch(text):
        value, _ = _expression(m.group(2), scope, defaulted)
        return value, value is not None
    parts: list[str] = []
    flag = False
    for piece in re.split(r"\s*([+/])\s*", text):
        if piece in ("+", "/"):
            parts.append("" if piece == "+" else "/")
        elif m := _STRING.fullmatch(piece):
            parts.append(m.group(1) if m.group(1) is not None else m.group(2))
        elif piece in scope:
            parts.append(scope[piece])
            flag = flag or piece in defaulted
        else:
            return None, False
    return "".join(parts), flag
