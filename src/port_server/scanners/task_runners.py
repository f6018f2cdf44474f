"""mise (``mise.toml``, ``.mise.toml``, ``mise.<env>.toml``, ``.config/mise.toml``...) and go-task
(``Taskfile.yml`` and its documented variants): ports in the tasks' commands.

mise: ``[tasks]`` entries (``name = "cmd"``, ``name = { run = ... }``, ``[tasks.name]`` tables;
``run`` a string or a list); ``[env]`` and the task's ``env`` resolve ``$VAR`` — ``[env]`` alone is
not a bind (``DB_PORT`` there names a server the app connects to).
go-task: ``tasks:`` entries (a command string, a list, or a mapping with ``cmds``/``cmd``); go
templates ``{{.NAME}}`` read the task's then the file's ``vars`` (and ``env``, and the project's
``.env`` when the file has ``dotenv:``);
``{{.NAME | default 9245}}`` and ``{{default 9245 .NAME}}`` take the default when NAME is unset,
and the claim is marked as a default. The task name is the claim's service.
"""

from __future__ import annotations

import re
from typing import Any

from port_server.models import PortClaim
from port_server.scanners import yaml_nodes as yn
from port_server.scanners.base import ScanError, SourceFile, base_name, claim, valid_port
from port_server.scanners.interpolate import UNRESOLVED
from port_server.scanners.shell_text import command_claims, from_default

_TASKFILES = frozenset(f"{a}{b}" for a in ("Taskfile", "taskfile", "Taskfile.dist",
                                            "taskfile.dist") for b in (".yml", ".yaml"))
_MISE = re.compile(r"^\.?mise(?:\.[\w-]+)?(?:\.local)?\.toml$")
_TEMPLATE = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}")
_LITERAL = re.compile(r'^(?:"((?:[^"\\]|\\.)*)"|`([^`]*)`|(-?\d+(?:\.\d+)?))$')
_DOT_NAME = re.compile(r"^\.([A-Za-z_]\w*)$")
_MAX_EXPANSIONS = 8


def is_mise_file(rel: str) -> bool:
    name = base_name(rel)
    if _MISE.match(name):
        return True
    return rel.endswith((".config/mise.toml", "mise/config.toml")) or name == ".rtx.toml"


def is_taskfile(rel: str) -> bool:
    return base_name(rel) in _TASKFILES


# -- mise ------------------------------------------------------------------------------------

def scan_mise(src: SourceFile) -> list[PortClaim]:
    import tomllib

    try:
        data = tomllib.loads(src.text)
    except tomllib.TOMLDecodeError as exc:
        raise ScanError(f"invalid TOML: {exc}") from None
    env = _string_table(data.get("env"))
    tasks = data.get("tasks")
    if not isinstance(tasks, dict):
        return []
    lines = src.text.splitlines()
    claims: list[PortClaim] = []
    for name, task in tasks.items():
        runs: Any = task
        own_env: dict[str, str] = {}
        if isinstance(task, dict):
            runs = task.get("run", task.get("cmd"))
            own_env = _string_table(task.get("env"))
        found: list[PortClaim] = []
        for command in runs if isinstance(runs, list) else [runs]:
            if isinstance(command, str):
                line = _mise_line(lines, name, command)
                expanded, defaults = _mise_template(command)
                found.extend(_marked(command_claims(src, "mise", name, line, expanded,
                                                    {**env, **own_env}), defaults,
                                     "default of a task argument"))
        claims.extend(found + _env_port(src, "mise", name, own_env.get("PORT"),
                                        _mise_line(lines, name, ""), found))
    return claims


def _mise_template(command: str) -> tuple[str, list[str]]:
    """mise's task arguments, ``{{option(name="port", default="3000")}}`` / ``{{arg(...)}}``:
    their defaults (returned too); any other template stays unresolved."""
    defaults: list[str] = []

    def sub(m: re.Match[str]) -> str:
        d = re.search(r"""default\s*=\s*(?:"([^"]*)"|'([^']*)'|(\d+))""", m.group(1))
        if d is None or not m.group(1).lstrip().startswith(("arg(", "option(", "flag(")):
            return UNRESOLVED
        value = next(g for g in d.groups() if g is not None)
        defaults.append(value)
        return value

    return _TEMPLATE.sub(sub, command), defaults


def _marked(found: list[PortClaim], defaults: list[str], note: str) -> list[PortClaim]:
    """The claims whose port comes from one of ``defaults``, marked as defaults."""
    return [c.replace(note=note, extra={**c.extra, "default": True})
            if c.host_port is not None and from_default(c.host_port, defaults) else c
            for c in found]


def _env_port(src: SourceFile, kind: str, task: str, value: str | None, line: int,
              found: list[PortClaim]) -> list[PortClaim]:
    """``PORT`` in a task's own environment binds like a ``PORT=N cmd`` prefix."""
    port = valid_port(value)
    if port is None or any(c.host_port == port for c in found):
        return []
    return [claim(src, line, kind, task, port, task, note="PORT in the task's env")]


def _string_table(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {k: str(v) for k, v in value.items()
            if isinstance(v, (str, int)) and not isinstance(v, bool) and "{{" not in str(v)}


def _mise_line(lines: list[str], name: str, command: str) -> int:
    """The line of the command's first line, else of the task's header or key."""
    first = command.strip().splitlines()[0] if command.strip() else ""
    key = re.compile(rf"^\s*(?:\[tasks\.)?(?:\"{re.escape(name)}\"|'{re.escape(name)}'|"
                     rf"{re.escape(name)})\s*(?:\]|=)")
    header = 0
    for i, line in enumerate(lines, start=1):
        if not header and key.match(line):
            header = i
        if header and first and first[:40] in line.replace('\\"', '"'):
            return i
    return header or 1


# -- go-task ---------------------------------------------------------------------------------

def scan_taskfile(src: SourceFile) -> list[PortClaim]:
    root = yn.compose_document(src.text)
    budget = yn.Budget()
    top = yn.mapping(root, budget)
    global_vars = _vars(top.get("vars"), budget)
    global_env = _vars(top.get("env"), budget)
    if top.get("dotenv") is not None:  # dotenv: ['.env']: its variables are env and template vars
        global_env = {**src.dotenv, **global_env}
    claims: list[PortClaim] = []
    for name, task in yn.mapping(top.get("tasks"), budget).items():
        task_map = yn.mapping(task, budget)
        scope = {**global_env, **global_vars, **_vars(task_map.get("vars"), budget)}
        own_env = _vars(task_map.get("env"), budget)
        env = {k: _template(v, scope)[0] for k, v in {**global_env, **own_env}.items()}
        found: list[PortClaim] = []
        for line, command in _commands(task, task_map, budget):
            expanded, defaults = _template(command, scope)
            found.extend(_marked(command_claims(src, "taskfile", name, line, expanded, env),
                                 defaults, "default of a go-template `default`"))
        env_node = yn.mapping(task_map.get("env"), budget).get("PORT")
        line = yn.line_of(env_node) if env_node is not None else 1
        claims.extend(found + _env_port(src, "taskfile", name, env.get("PORT") if "PORT" in
                                        own_env else None, line, found))
    return claims


def _vars(node: Any, budget: yn.Budget) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in yn.mapping(node, budget).items():
        text = yn.scalar(value)
        if text is None and yn.is_mapping(value):  # {value: x}; {sh: ...} is not run
            text = yn.scalar(yn.mapping(value, budget).get("value"))
        if text is not None:
            out[key] = text
    return out


def _commands(task: Any, task_map: dict[str, Any], budget: yn.Budget) -> list[tuple[int, str]]:
    if yn.is_scalar(task):
        return [(yn.line_of(task), yn.scalar(task) or "")]
    items = yn.sequence(task, budget) if yn.is_sequence(task) else \
        yn.sequence(task_map.get("cmds"), budget)
    if not items and task_map.get("cmd") is not None:
        items = [task_map["cmd"]]
    out = []
    for item in items:
        if yn.is_mapping(item):
            item = yn.mapping(item, budget).get("cmd")
        text = yn.scalar(item)
        if text is not None:
            out.append((yn.line_of(item), text))
    return out


def _template(text: str, scope: dict[str, str], depth: int = 0) -> tuple[str, list[str]]:
    """Expand go templates from ``scope``; also the values ``default`` supplied."""
    defaults: list[str] = []

    def sub(m: re.Match[str]) -> str:
        value, used = _pipeline(m.group(1), scope, depth)
        defaults.extend(used)
        return UNRESOLVED if value is None else value

    return _TEMPLATE.sub(sub, text), defaults


def _pipeline(expr: str, scope: dict[str, str], depth: int) -> tuple[str | None, list[str]]:
    stages = [s.strip() for s in expr.split("|")]
    words = stages[0].split()
    if len(stages) == 1 and len(words) == 3 and words[0] == "default":  # {{default 9 .NAME}}
        value, used = _operand(words[2], scope, depth)
        if value is None or value == "":
            value = _operand(words[1], scope, depth)[0]
            return value, [value] if value is not None else []
        return value, used
    value, used = _operand(stages[0], scope, depth)
    for stage in stages[1:]:
        words = stage.split(None, 1)
        if not words or words[0] != "default" or len(words) != 2:
            return None, used
        if value is None or value == "":
            value = _operand(words[1], scope, depth)[0]
            used = used + ([value] if value is not None else [])
    return value, used


def _operand(text: str, scope: dict[str, str], depth: int) -> tuple[str | None, list[str]]:
    if m := _LITERAL.match(text):
        return next(g for g in m.groups() if g is not None), []
    if (m := _DOT_NAME.match(text)) and m.group(1) in scope and depth < _MAX_EXPANSIONS:
        return _template(scope[m.group(1)], scope, depth + 1)
    return None, []
