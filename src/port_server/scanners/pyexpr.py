"""Read Python-syntax files (gunicorn config, Tiltfiles in Starlark) without running them.

``ast.parse`` builds the tree; ``Evaluator`` computes the few expression forms such files use for
ports: literals, lists/tuples/dicts, names assigned earlier at top level, ``+`` and ``%`` on
strings, f-strings, ``str()``/``int()``, and ``os.getenv(NAME, default)`` /
``os.environ.get(NAME, default)`` — the environment is never read, so a default is taken and
remembered (``Value.default``). Anything else is ``UNKNOWN``.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from port_server.scanners.base import ScanError

MAX_NODES = 100_000


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


@dataclass(frozen=True)
class Value:
    """An evaluated expression; ``default`` when a placeholder default supplied (part of) it."""

    value: Any
    default: bool = False


def parse_module(text: str, what: str) -> ast.Module:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError) as exc:
        reason = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        raise ScanError(f"cannot parse as {what}: {reason}") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ScanError(f"too large to read as {what}")
    return tree


def top_statements(body: list[ast.stmt], depth: int = 0) -> Iterator[ast.stmt]:
    """Statements at module level, including both branches of ``if`` and ``try`` bodies."""
    for stmt in body:
        if isinstance(stmt, ast.If) and depth < 8:
            yield from top_statements(stmt.body, depth + 1)
            yield from top_statements(stmt.orelse, depth + 1)
        elif isinstance(stmt, ast.Try) and depth < 8:
            yield from top_statements(stmt.body, depth + 1)
        else:
            yield stmt


CallHook = Callable[[str, list[Value], dict[str, Value]], Value | None]


class Evaluator:
    def __init__(self, call_hook: CallHook | None = None) -> None:
        self.names: dict[str, Value] = {}
        self.call_hook = call_hook

    def assign(self, stmt: ast.stmt) -> None:
        """Record ``NAME = expr`` (first branch wins over a later ``else``)."""
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(
                stmt.targets[0], ast.Name):
            name = stmt.targets[0].id
            value = self.eval(stmt.value)
            if value.value is not UNKNOWN or name not in self.names:
                self.names[name] = value

    def eval(self, node: ast.expr, depth: int = 0) -> Value:
        if depth > 32:
            return Value(UNKNOWN)
        d = depth + 1
        if isinstance(node, ast.Constant):
            return Value(node.value)
        if isinstance(node, ast.Name):
            return self.names.get(node.id, Value(UNKNOWN))
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [self.eval(e, d) for e in node.elts]
            return Value([i.value for i in items], any(i.default for i in items))
        if isinstance(node, ast.Dict):
            out: dict[Any, Any] = {}
            flag = False
            for k, v in zip(node.keys, node.values, strict=True):
                if k is None:
                    continue
                key, val = self.eval(k, d), self.eval(v, d)
                if isinstance(key.value, (str, int)):
                    out[key.value] = val.value
                    flag = flag or val.default
            return Value(out, flag)
        if isinstance(node, ast.JoinedStr):
            return self._fstring(node, d)
        if isinstance(node, ast.BinOp):
            return self._binop(node, d)
        if isinstance(node, ast.Call):
            return self._call(node, d)
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
            for value in node.values:  # os.environ.get("PORT") or 8000
                result = self.eval(value, d)
                if result.value not in (None, UNKNOWN, ""):
                    return result
            return Value(UNKNOWN)
        return Value(UNKNOWN)

    def _fstring(self, node: ast.JoinedStr, depth: int) -> Value:
        parts: list[str] = []
        flag = False
        for piece in node.values:
            if isinstance(piece, ast.Constant):
                parts.append(str(piece.value))
            elif isinstance(piece, ast.FormattedValue):
                inner = self.eval(piece.value, depth)
                if inner.value is UNKNOWN or inner.value is None:
                    return Value(UNKNOWN)
                parts.append(str(inner.value))
                flag = flag or inner.default
        return Value("".join(parts), flag)

    def _binop(self, node: ast.BinOp, depth: int) -> Value:
        left, right = self.eval(node.left, depth), self.eval(node.right, depth)
        flag = left.default or right.default
        a, b = left.value, right.value
        if a is UNKNOWN or b is UNKNOWN:
            return Value(UNKNOWN)
        try:
            if isinstance(node.op, ast.Add) and type(a) is type(b) and isinstance(a, (str, int)):
                return Value(a + b, flag)
            if isinstance(node.op, ast.Mod) and isinstance(a, str):
                return Value(a % (tuple(b) if isinstance(b, list) else b), flag)
        except (TypeError, ValueError):
            pass
        return Value(UNKNOWN)

    def _call(self, node: ast.Call, depth: int) -> Value:
        name = _dotted(node.func)
        args = [self.eval(a, depth) for a in node.args]
        kwargs = {k.arg: self.eval(k.value, depth) for k in node.keywords if k.arg}
        if name in ("os.getenv", "os.environ.get", "getenv", "environ.get") and args:
            if len(args) > 1 and args[1].value is not UNKNOWN:
                return Value(args[1].value, True)
            return Value(UNKNOWN)
        if name in ("str", "int") and len(args) == 1 and args[0].value not in (UNKNOWN, None):
            try:
                return Value(str(args[0].value) if name == "str" else int(args[0].value),
                             args[0].default)
            except (TypeError, ValueError):
                return Value(UNKNOWN)
        if name.endswith(".format") and isinstance(node.func, ast.Attribute):
            base = self.eval(node.func.value, depth)
            if isinstance(base.value, str) and all(a.value is not UNKNOWN for a in args):
                try:
                    return Value(base.value.format(*[a.value for a in args]),
                                 base.default or any(a.default for a in args))
                except (IndexError, KeyError, ValueError):
                    return Value(UNKNOWN)
        if self.call_hook is not None:
            hooked = self.call_hook(name, args, kwargs)
            if hooked is not None:
                return hooked
        return Value(UNKNOWN)


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def call_name(node: ast.Call) -> str:
    return _dotted(node.func)
