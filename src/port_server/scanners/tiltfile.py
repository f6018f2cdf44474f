"""Tiltfiles (Starlark, read with Python's parser, never run): the ports Tilt forwards or serves.

- ``k8s_resource(name, port_forwards=...)`` (and extensions' ``helm_resource``...): a number,
  ``'8000:80'``, ``'127.0.0.1:8000:80'``, ``port_forward(local, container, name=..., host=...)``,
  or a list of these;
- ``local_resource(name, serve_cmd=..., serve_env={'PORT': ...})``: the serve command read with the
  command-line knowledge of package.json scripts, and a ``PORT`` in its environment.
Values may come from top-level assignments and ``os.getenv('X', default)`` (marked as defaults).
The resource name is the claim's service.
"""

from __future__ import annotations

import ast
from typing import Any

from port_server.models import PortClaim
from port_server.scanners.base import SourceFile, base_name, claim, valid_port
from port_server.scanners.pyexpr import (
    UNKNOWN,
    Evaluator,
    Value,
    call_name,
    parse_module,
    top_statements,
)

KIND = "tilt"


def is_tiltfile(rel: str) -> bool:
    name = base_name(rel)
    return name == "Tiltfile" or name.endswith(".tiltfile") or name.startswith("Tiltfile.")


def _hook(name: str, args: list[Value], kwargs: dict[str, Value]) -> Value | None:
    if name == "port_forward":  # keep it as a small record the scanner reads below
        fields = dict(zip(("local_port", "container_port", "name", "link_path", "host"),
                          (a.value for a in args), strict=False))
        fields.update({k: v.value for k, v in kwargs.items()})
        return Value({"__port_forward__": fields},
                     any(a.default for a in args) or any(v.default for v in kwargs.values()))
    return None


def scan_tiltfile(src: SourceFile) -> list[PortClaim]:
    tree = parse_module(src.text, "a Tiltfile")
    ev = Evaluator(_hook)
    claims: list[PortClaim] = []
    for stmt in top_statements(tree.body):
        ev.assign(stmt)
        for node in ast.walk(stmt):
            if isinstance(node, ast.Call) and (call_name(node) == "local_resource" or (
                    call_name(node).endswith("_resource")
                    and any(k.arg == "port_forwards" for k in node.keywords))):
                claims.extend(_resource(src, ev, node))
    return claims


def _resource(src: SourceFile, ev: Evaluator, node: ast.Call) -> list[PortClaim]:
    kwargs = {k.arg: k.value for k in node.keywords if k.arg}
    first = node.args[0] if node.args else kwargs.get("workload", kwargs.get("name"))
    name_value = ev.eval(first).value if first is not None else UNKNOWN
    name = name_value if isinstance(name_value, str) else call_name(node)
    out: list[PortClaim] = []
    forwards = kwargs.get("port_forwards")
    if forwards is not None:
        items = forwards.elts if isinstance(forwards, (ast.List, ast.Tuple)) else [forwards]
        for item in items:
            value = ev.eval(item)
            values = value.value if isinstance(value.value, list) else [value.value]
            for one in values:  # port_forwards=PORTS, a list assigned earlier
                out.extend(_forward(src, name, item.lineno, Value(one, value.default)))
    if call_name(node) == "local_resource":
        out.extend(_serve(src, ev, name, kwargs))
    return out


def _forward(src: SourceFile, name: str, line: int, value: Value) -> list[PortClaim]:
    v: Any = value.value
    host_ip = ""
    container: int | None = None
    if isinstance(v, dict) and "__port_forward__" in v:
        fields = v["__port_forward__"]
        port = valid_port(fields.get("local_port"))
        container = valid_port(fields.get("container_port"))
        host = fields.get("host")
        host_ip = host if isinstance(host, str) and host[:1].isdigit() else ""
    elif isinstance(v, str) and ":" in v:  # '[host:]local:container'
        parts = v.rsplit(":", 2)
        port = valid_port(parts[-2])
        container = valid_port(parts[-1])
        host_ip = parts[0] if len(parts) == 3 else ""
    else:
        port = valid_port(v)
    if port is None:
        return []
    return [claim(src, line, KIND, name, port, "port_forwards", host_ip=host_ip,
                  container_port=container, default=value.default)]


def _serve(src: SourceFile, ev: Evaluator, name: str,
           kwargs: dict[str, ast.expr]) -> list[PortClaim]:
    from port_server.scanners.shell_text import command_claims

    out: list[PortClaim] = []
    env_node = kwargs.get("serve_env")
    env = ev.eval(env_node) if env_node is not None else Value({})
    if isinstance(env.value, dict):
        port = valid_port(env.value.get("PORT"))
        if port is not None and env_node is not None:
            out.append(claim(src, env_node.lineno, KIND, name, port, "serve_env",
                             default=env.default))
    serve = kwargs.get("serve_cmd")
    if serve is None:
        return out
    command = ev.eval(serve)
    if isinstance(command.value, list):
        command = Value(" ".join(str(w) for w in command.value), command.default)
    if isinstance(command.value, str):
        found = command_claims(src, KIND, name, serve.lineno, command.value)
        if command.default:
            found = [c.replace(extra={**c.extra, "default": True},
                               note="default of os.getenv in serve_cmd") for c in found]
        out.extend(c for c in found if not any(o.host_port == c.host_port for o in out))
    return out
