"""Short shell scripts inside other files (Procfile lines, just recipes, mise and go-task tasks,
Tilt ``serve_cmd``): split into commands, follow assignments, expand variables, then hand each
command to ``commandline.scan_command``.

``P="${DOCKER_PORT:-8080}"; exec docker run -p "$P:$P" img`` reads as ``docker run -p 8080:8080``
with the value marked as a default; ``bash -c '...'`` and ``sh -c "..."`` are unwrapped. Nothing is
run: ``$(...)`` and backticks stay unresolved.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from port_server.models import PortClaim
from port_server.scanners.base import SourceFile, claim
from port_server.scanners.commandline import CommandPort, scan_command
from port_server.scanners.interpolate import UNRESOLVED, interpolate

if TYPE_CHECKING:
    from port_server.frameworks import Framework

_ASSIGNMENT = re.compile(r"^(?:export\s+|local\s+|readonly\s+)?([A-Za-z_][A-Za-z0-9_]*)="
                         r"(\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^\s;&|'\"]*)$")
_DEFAULTED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?[-=]([^}]*)\}")
_REF = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_REF_DEFAULT = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)(?::?[-=]([^}]*))?\}?")
_SHELLS = frozenset({"bash", "sh", "zsh", "dash", "ksh"})
_MAX_DEPTH = 3


@dataclass(frozen=True)
class Hit:
    """A port a command binds; ``line`` counts from 0 within the script given."""

    line: int
    port: CommandPort | None
    default: bool
    #: The environment variable the port was read from (``-p ${WEB_PORT:-3000}``), if one.
    variable: str = ""
    #: With ``port`` None: a dev server from the frameworks table started with no port.
    framework: Framework | None = None


def split_statements(line: str) -> list[str]:
    """Split one line at ``;``, ``&&``, ``||`` and ``&`` outside quotes."""
    out: list[str] = []
    buf: list[str] = []
    quote = ""
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\" and quote == '"' and i + 1 < len(line):
                buf.append(line[i:i + 2])
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in ";&|":
            if ch == "|" and line[i:i + 2] != "||":
                buf.append(ch)  # a pipe stays inside the statement (scan_command splits it)
                i += 1
                continue
            out.append("".join(buf))
            buf = []
            i += 2 if line[i:i + 2] in ("&&", "||") else 1
            continue
        buf.append(ch)
        i += 1
    out.append("".join(buf))
    return [s.strip() for s in out if s.strip()]


def script_hits(script: str, variables: Mapping[str, str] | None = None,
                defaulted: frozenset[str] = frozenset(), _depth: int = 0) -> list[Hit]:
    """Every port the script's commands bind, following its own assignments."""
    scope = dict(variables or {})
    marked = set(defaulted)
    assigned: set[str] = set()  # the script's own variables: not settable from outside
    hits: list[Hit] = []
    for lineno, line in _lines(script):
        for statement in split_statements(line):
            if (m := _ASSIGNMENT.match(statement)) and "$(" not in statement:
                _assign(scope, marked, m.group(1), m.group(2))
                assigned.add(m.group(1))
                continue
            inner = _unwrap_shell(statement)
            if inner is not None and _depth < _MAX_DEPTH:
                hits.extend(Hit(lineno + h.line, h.port, h.default,
                                "" if h.variable in assigned else h.variable)
                            for h in script_hits(inner, scope, frozenset(marked), _depth + 1))
                continue
            defaults = defaults_used(statement, scope, marked)
            command = interpolate(statement, scope).text
            found = [Hit(lineno, port, from_default(port.host_port, defaults),
                         _variable_of(statement, port.host_port, scope, assigned))
                     for port in scan_command(command)]
            hits.extend(found or _implicit(lineno, command))
    return hits


def _implicit(lineno: int, command: str) -> list[Hit]:
    """A dev server (``rails server``, ``flask run``) started with no port: its default port,
    from the shared frameworks table, applies unless its own config file sets another."""
    from port_server.frameworks import detect, has_port, strip_wrappers

    try:
        argv = shlex.split(command)
    except ValueError:
        return []
    tool = argv[strip_wrappers(argv)] if argv and strip_wrappers(argv) < len(argv) else ""
    if "/" in tool and not tool.endswith("/rails"):
        return []  # a binstub (bin/vite is vite_ruby, bin/webpack-dev-server webpacker): own config
    found = detect(argv) if argv else None
    if found is None or found.framework.default_port is None or has_port(argv, found) or \
            any(UNRESOLVED in a for a in argv):
        return []
    return [Hit(lineno, None, False, framework=found.framework)]


def _variable_of(statement: str, port: int, scope: Mapping[str, str],
                 assigned: set[str]) -> str:
    """The one outside variable whose value (or default) is the port, else ''."""
    names = {m.group(1) for m in _REF_DEFAULT.finditer(statement)
             if m.group(1) not in assigned and (scope.get(m.group(1)) or m.group(2) or "")
             .strip("'\"") == str(port)}
    return names.pop() if len(names) == 1 else ""


def defaults_used(text: str, scope: Mapping[str, str],
                  marked: set[str] | frozenset[str]) -> list[str]:
    """The placeholder defaults expanding ``text`` takes, here (``${X:-8080}``) or through a
    variable whose value came from one."""
    found = [m.group(2) for m in _DEFAULTED.finditer(text) if m.group(1) not in scope]
    return found + [scope[name] for name in _REF.findall(text) if name in marked and
                    name in scope]


def from_default(port: int, defaults: list[str]) -> bool:
    """Whether ``port`` is written in one of the defaults (so it is the default's value)."""
    return any(re.search(rf"(?<!\d){port}(?!\d)", value) for value in defaults)


def _assign(scope: dict[str, str], marked: set[str], name: str, raw: str) -> None:
    if raw.startswith("'"):
        scope[name] = raw.strip("'")
        marked.discard(name)
        return
    value = raw[1:-1] if raw.startswith('"') and len(raw) > 1 else raw
    expanded = interpolate(value, scope)
    defaulted = bool(defaults_used(value, scope, marked))
    if expanded.resolved:
        scope[name] = expanded.text
        if defaulted:
            marked.add(name)
        else:
            marked.discard(name)
    else:
        scope.pop(name, None)


def _unwrap_shell(statement: str) -> str | None:
    """``[exec] bash [-flags] -c 'script'`` -> the script; anything else -> None."""
    try:
        words = shlex.split(statement)
    except ValueError:
        return None
    while words and words[0] in ("exec", "command", "env"):
        words.pop(0)
    if len(words) < 3 or words[0].rsplit("/", 1)[-1] not in _SHELLS:
        return None
    for i, word in enumerate(words[1:], start=1):
        if not word.startswith("-"):
            return None
        if "c" in word[1:] and not word.startswith("--") and i + 1 < len(words):
            return words[i + 1]
    return None


def _lines(script: str) -> Iterator[tuple[int, str]]:
    """(0-based line, text) of each logical line, continuations joined, comments dropped."""
    buf: list[str] = []
    start = 0
    for i, raw in enumerate(script.splitlines()):
        if not buf:
            start = i
        if raw.endswith("\\"):
            buf.append(raw[:-1])
            continue
        buf.append(raw)
        text = " ".join(part.strip() for part in buf)
        buf = []
        if text and not text.startswith("#"):
            yield start, re.split(r"\s#", text, maxsplit=1)[0]
    if buf:
        yield start, " ".join(part.strip() for part in buf)


def command_claims(src: SourceFile, kind: str, service: str, line: int, script: str,
                   variables: Mapping[str, str] | None = None,
                   defaulted: frozenset[str] = frozenset(),
                   reads_dotenv: bool = False) -> list[PortClaim]:
    """Claims for a script that starts at ``line`` of ``src``; ``source`` is ``service``.
    ``reads_dotenv``: the tool loads the project's .env, so a port read from an environment
    variable is recorded as ``extra["host_var"]`` (``portctl up`` may move it there)."""
    out: list[PortClaim] = []
    for hit in script_hits(script, variables, defaulted):
        if hit.port is None:
            if hit.framework is not None:
                out.append(_implicit_claim(src, line + hit.line, kind, service, hit.framework))
            continue
        out.append(claim(src, line + hit.line, kind, service, hit.port.host_port, service,
                         host_ip=hit.port.host_ip, container_port=hit.port.container_port,
                         protocol=hit.port.protocol, default=hit.default,
                         note=f"default of a placeholder in {service}" if hit.default else "",
                         host_var=hit.variable if reads_dotenv else None))
    return out


def _implicit_claim(src: SourceFile, line: int, kind: str, service: str,
                    framework: Framework) -> PortClaim:
    """Not a host port the files state (so no ``host_port``): a note that the framework's
    default applies, kept beside the claims so ``scan-project`` and ``register`` can say so."""
    return PortClaim(file=src.rel, line=line, kind=kind, service=service, host_port=None,
                     resolved=False, note=f"{framework.name} started with no port: its default"
                     f" {framework.default_port} applies unless its config sets one",
                     extra={"source": service, "framework": framework.name,
                            "implicit_port": framework.default_port})
