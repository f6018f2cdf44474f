"""mise (``mise.toml``, ``.mise.toml``, ``mise.<env>.toml``, ``.config/mise.toml``...) and go-task
(``Taskfile.yml`` and its documented variants): ports in the tasks' commands.

mise: ``[tasks]`` entries (``name = "cmd"``, ``name = { run = ... }``, ``[tasks.name]`` tables;
``run`` a string or a list); ``[env]`` and the task's ``env`` resolve ``$VAR`` — ``[env]`` alone is
not a bind (``DB_PORT`` there names a server the app connects to).
go-task: ``tasks:`` entries (a command string, a list, or a mapping with ``cmds``/``cmd``); go
templates ``{{.NAME}}`` read the task's then the file's ``vars`` (and ``env``);
``{{.NAME | default 9245}}`` and ``{{default 9245 .NAME}}`` take the default when NAME is unset,
and the claim is marked as a default. The task name is the claim's service.
"""

from __future__ import annotations

import re
from typing import Any

from port_server.models import PortClaim
from port_server.scanners import yaml_nodes as yn
from port_server.scanners.base import ScanError, SourceFile, base_name
from port_server.scanners.interpolate import UNRESOLVED
from port_server.scanners.shell_text import command_claims

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
        task_env = env
        if isinstance(task, dict):
            runs = task.get("run", task.get("cmd"))
            task_env = {**env, **_string_table(task.get("env"))}
        for command in runs if isinstance(runs, list) else [runs]:
            if isinstance(command, str):
                line = _mise_line(lines, name, command)
                claims.extend(command_claims(src, "mise", name, line, command, task_env))
    return claims


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
    claims: list[PortClaim] = []
    for name, task in yn.mapping(top.get("tasks"), budget).items():
        task_map = yn.mapping(task, budget)
        scope = {**global_env, **global_vars, **_vars(task_map.get("vars"), budget)}
        env = {**global_env, **_vars(task_map.get("env"), budget)}
        for line, command in _commands(task, task_map, budget):
            expanded, defaulted = _template(command, scope)
            found = command_claims(src, "taskfile", name, line, expanded,
                                   {k: _template(v, scope)[0] for k, v in env.items()})
            if defaulted:
                found = [c.replace(note="default of a go-template `default`",
                                   extra={**c.extra, "default": True}) for c in found]
            claims.extend(found)
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


def _template(text: str, scope: dict[str, str], depth: int = 0) -> tuple[str, bool]:
    """Expand go templates from ``scope``; True when a ``default`` supplied a value."""
    defaulted = False

    def sub(m: re.Match[str]) -> str:
        nonlocal defaulted
        value, used_default = _pipeline(m.group(1), scope, depth)
        defaulted = defaulted or used_default
        return UNRESOLVED if value is None else value

    return _TEMPLATE.sub(sub, text), defaulted


def _pipeline(expr: str, scope: dict[str, str], depth: int) -> tuple[str | None, bool]:
    stages = [s.strip() for s in expr.split("|")]
    value, defaulted = _operand(stages[0], scope, depth)
    if len(stages) == 1 and stages[0].startswith("default "):  # {{default 9245 .NAME}}
        words = stages[0].split()
        if len(words) == 3:
            value, defaulted = _operand(words[2], scope, depth)
            if value is None:
                return _operand(words[1], scope, depth)[0], True
    for stage in stages[1:]:
        words = stage.split(None, 1)
        if words and words[0] == "default" and len(words) == 2:
            if value is None or value == "":
                value, defaulted = _operand(words[1], scope, depth)[0], True
        else:
            return None, defaulted
    return value, defaulted


def _operand(text: str, scope: dict[str, str], depth: int) -> tuple[str | None, bool]:
    if m := _LITERAL.match(text):
        return next(g for g in m.groups() if g is not None), False
    if (m := _DOT_NAME.match(text)) and m.group(1) in scope and depth < _MAX_EXPANSIONS:
        return _template(scope[m.group(1)], scope, depth + 1)
    return None, False
