"""Makefiles and shell scripts: host ports in recipes and commands (see ``commandline``).

Makefile variables (``PORT ?= 80``, target-specific ``serve: PORT ?= 80``) are expanded in
recipes, ``$$`` becomes the shell's ``$``, shell defaults (``${APP_PORT:-8001}``) apply. A variable
whose value carries port flags (``CH_FLAGS = -p 8123:8123``) is reported under the variable's
name. In shell scripts, plain assignments earlier in the file (``host_port=3000``) resolve
``$host_port``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from port_server.models import PortClaim
from port_server.scanners.base import SourceFile, base_name
from port_server.scanners.commandline import CommandPort, scan_command
from port_server.scanners.interpolate import interpolate

_MAKE_ASSIGN = re.compile(
    r"^(?:override\s+|export\s+)*([A-Za-z_][\w.-]*)\s*(\?=|:::=|::=|:=|\+=|!=|=)\s*(.*)$")
_TARGET_VAR = re.compile(
    r"^([^\t#:=][^:=]*?)\s*:\s*(?:override\s+|export\s+)*([A-Za-z_][\w.-]*)\s*(\?=|:=|\+=|=)\s*(.*)$")
_TARGET = re.compile(r"^([^\t#:=\s][^:=]*?)\s*::?(?!=)(.*)$")
_MAKE_REF = re.compile(r"\$[({]([A-Za-z_][\w.-]*)[)}]")
_SHELL_ASSIGN = re.compile(r"^\s*(?:export\s+|local\s+|readonly\s+|declare\s+)?"
                           r"([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|'[^']*'|[^\s;&|]*)\s*(?:#.*)?$")
_HEREDOC = re.compile(r"<<-?\s*['\"]?([A-Za-z_]\w*)['\"]?")
_PORT_HINT = re.compile(r"port|-p\b|--publish|runserver|--bind|-b\b|http\.server|-S\b|-l\b|"
                        r"--inspect|--listen|-a\b|PORT=", re.IGNORECASE)
_DOLLAR = "\ue001"


_SCRIPT_FOLDERS = ("", "scripts", "script", "bin", "tools", "tests", "ci", "hack", "dev")
_SHEBANG = re.compile(r"^#!\s*\S*(?:/|env\s+)(?:ba|z|da|k)?sh\b")


def is_makefile(rel: str) -> bool:
    name = base_name(rel)
    return (name in ("Makefile", "makefile", "GNUmakefile") or name.endswith(".mk")
            or name.startswith("Makefile."))


def is_shell_script(rel: str) -> bool:
    """``*.sh``/``*.bash``/``*.zsh`` anywhere, or an extensionless file in a scripts folder
    (``scripts/dev``), which ``scan_shell_script`` reads only if it has a shell shebang."""
    name = base_name(rel)
    if name.endswith((".sh", ".bash", ".zsh")):
        return True
    folder = rel[:-len(name)].rstrip("/").rsplit("/", 1)[-1]
    return "." not in name and folder in _SCRIPT_FOLDERS and name not in (
        "Makefile", "makefile", "GNUmakefile", "Dockerfile", "Procfile", "LICENSE")


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, line with backslash continuations joined)."""
    buf: list[str] = []
    start = 0
    for i, line in enumerate(text.splitlines(), start=1):
        if not buf:
            start = i
        if line.endswith("\\") and not line.endswith("\\\\"):
            buf.append(line[:-1])
            continue
        buf.append(line)
        yield start, " ".join(part.strip() if n else part for n, part in enumerate(buf))
        buf = []
    if buf:
        yield start, " ".join(buf)


def _claims(src: SourceFile, kind: str, service: str, line: int,
            hits: list[CommandPort]) -> list[PortClaim]:
    return [PortClaim(file=src.rel, line=line, kind=kind, service=service or hit.tool,
                      host_port=hit.host_port, container_port=hit.container_port,
                      protocol=hit.protocol, host_ip=hit.host_ip) for hit in hits]


def _strip_comment(line: str) -> str:
    return re.split(r"(?:^|\s)#", line, maxsplit=1)[0]


_INCLUDES_DOTENV = re.compile(r"^-?include\s+(?:\S*/)?\.env\s*$", re.MULTILINE)


def scan_makefile(src: SourceFile) -> list[PortClaim]:
    # `include .env` makes the project's .env variables make variables.
    global_vars: dict[str, str] = dict(src.dotenv) if _INCLUDES_DOTENV.search(src.text) else {}
    target_vars: dict[str, dict[str, str]] = {}
    target = ""
    claims: list[PortClaim] = []
    for lineno, line in logical_lines(src.text):
        if line.startswith("\t"):
            recipe = line.lstrip("\t").lstrip("@-+ ")
            if not target or not _PORT_HINT.search(recipe):
                continue
            scope = {**global_vars, **target_vars.get(target, {})}
            command = _expand_make(_strip_comment(recipe), scope)
            claims.extend(_claims(src, "make", target, lineno, scan_command(command)))
            continue
        stripped = _strip_comment(line).strip()
        if not stripped:
            continue
        if m := _TARGET_VAR.match(stripped):
            for name in m.group(1).split():
                _assign(target_vars.setdefault(name, {}), m.group(2), m.group(3), m.group(4))
            continue
        if m := _MAKE_ASSIGN.match(stripped):
            name, value = m.group(1), m.group(3).strip()
            _assign(global_vars, name, m.group(2), value)
            if _PORT_HINT.search(value):
                hits = scan_command(_expand_make("docker run " + value
                                                 if value.startswith("-") else value,
                                                 global_vars))
                claims.extend(_claims(src, "make", name, lineno, hits))
            continue
        if m := _TARGET.match(stripped):
            first = m.group(1).split()[0] if m.group(1).split() else ""
            target = "" if first.startswith(".") else first
            recipe = m.group(2).partition(";")[2]
            if recipe and target and _PORT_HINT.search(recipe):
                command = _expand_make(recipe, {**global_vars, **target_vars.get(target, {})})
                claims.extend(_claims(src, "make", target, lineno, scan_command(command)))
    return claims


def _assign(scope: dict[str, str], name: str, op: str, value: str) -> None:
    value = value.strip()
    if op == "?=" and name in scope:
        return
    if op == "+=" and name in scope:
        scope[name] = f"{scope[name]} {value}"
    elif op != "!=":
        scope[name] = value


def _expand_make(text: str, scope: dict[str, str], depth: int = 0) -> str:
    """Make's ``$(VAR)``/``${VAR}`` from ``scope``, then ``$$`` -> ``$``, then shell defaults."""
    text = text.replace("$$", _DOLLAR)

    def ref(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in scope and depth < 8:
            return _expand_make(scope[name], scope, depth + 1).replace("$", _DOLLAR)
        return m.group(0)

    text = _MAKE_REF.sub(ref, text).replace(_DOLLAR, "$")
    return text if depth else interpolate(text, {}).text


def scan_shell_script(src: SourceFile) -> list[PortClaim]:
    if "." not in base_name(src.rel) and not _SHEBANG.match(src.text):
        return []  # an extensionless file that is not a shell script
    variables: dict[str, str] = {}
    claims: list[PortClaim] = []
    heredoc_end: str | None = None
    for lineno, line in logical_lines(src.text):
        if heredoc_end is not None:
            if line.strip() == heredoc_end:
                heredoc_end = None
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if m := _HEREDOC.search(line):
            heredoc_end = m.group(1)
        if (m := _SHELL_ASSIGN.match(line)) and "$(" not in line and "`" not in line:
            value = m.group(2)
            if value.startswith("'"):
                variables[m.group(1)] = value.strip("'")
            else:  # PORT=${PORT:-8080}: defaults and earlier assignments resolve it
                expanded = interpolate(value.strip('"'), variables)
                if expanded.resolved:
                    variables[m.group(1)] = expanded.text
                else:
                    variables.pop(m.group(1), None)
            continue
        if not _PORT_HINT.search(line):
            continue
        command = interpolate(_strip_comment(line), variables).text
        claims.extend(_claims(src, "script", "", lineno, scan_command(command)))
    return claims


__all__ = ["base_name", "is_makefile", "is_shell_script", "scan_makefile", "scan_shell_script"]
