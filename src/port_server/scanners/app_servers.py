"""Application-server config files: Puma (``config/puma.rb``, ``config/puma/*.rb``) and gunicorn
(``gunicorn.conf.py`` and other ``*gunicorn*.py`` files loaded with ``gunicorn -c``).

Puma (Ruby, read as text): ``port N[, host]``, ``bind "tcp://host:N"`` (also ``ssl://``; ``unix://``
binds no port), ``ssl_bind host, N``. Values may be ``ENV.fetch("PORT") { 3000 }``,
``ENV.fetch("PORT", 3000)``, ``ENV["PORT"] || 3000`` (the default, marked as such), ``#{...}``
interpolation and earlier assignments (``PORT = ENV.fetch("PORT", 3000)``).
gunicorn (Python, parsed never run): ``bind = "host:N"`` or a list, with ``os.getenv`` defaults.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from port_server.models import PortClaim
from port_server.scanners.base import ScanError, SourceFile, base_name, claim, valid_port
from port_server.scanners.interpolate import UNRESOLVED

# -- Puma ------------------------------------------------------------------------------------

_RUBY_ASSIGN = re.compile(r"^([A-Za-z_]\w*)\s*=\s*(?!=)(.+)$")
_RUBY_DIRECTIVE = re.compile(r"^(port|bind|ssl_bind)\b\s*(.+?)\s*(?:\s(?:if|unless)\s.*)?$")
_FETCH = re.compile(r"""ENV\.fetch\(\s*(['"])(\w+)\1\s*(?:,\s*([^)]+?))?\s*\)"""
                    r"""(?:\s*\{\s*([^}]*?)\s*\})?""")
_ENV_OR = re.compile(r"""ENV\[\s*(['"])(\w+)\1\s*\]\s*\|\|\s*([^\s,)]+)""")
_INTERP = re.compile(r"#\{([^}]*)\}")
_URL = re.compile(r"^(?:tcp|ssl)://(\[[^\]]*\]|[^:/?]*):(\d+)")


@dataclass
class _RubyValue:
    text: str
    default: bool = False


def is_puma_config(rel: str) -> bool:
    name = base_name(rel)
    return name == "puma.rb" or ((rel.startswith("config/puma/") or "/config/puma/" in rel) and \
        name.endswith(".rb"))


def scan_puma(src: SourceFile) -> list[PortClaim]:
    scope: dict[str, _RubyValue] = {}
    claims: list[PortClaim] = []
    for lineno, raw in enumerate(src.text.splitlines(), start=1):
        line = _strip_ruby_comment(raw).strip()
        if not line:
            continue
        if m := _RUBY_ASSIGN.match(line):
            scope[m.group(1)] = _ruby_value(m.group(2), scope)
        elif m := _RUBY_DIRECTIVE.match(line):
            text = m.group(2)
            if text.startswith("(") and text.endswith(")"):
                text = text[1:-1]
            args = [_ruby_value(a, scope) for a in _split_args(text)]
            claims.extend(_puma_claims(src, lineno, m.group(1), args))
    return claims


def _puma_claims(src: SourceFile, line: int, directive: str,
                 args: list[_RubyValue]) -> list[PortClaim]:
    if not args:
        return []
    default = any(a.default for a in args)
    if directive == "bind":
        m = _URL.match(args[0].text)
        if m is None or valid_port(m.group(2)) is None:
            return []
        port = int(m.group(2))
        host = m.group(1).strip("[]")
    elif directive == "ssl_bind" and len(args) >= 2:
        port_or_none = valid_port(args[1].text)
        if port_or_none is None:
            return []
        port, host = port_or_none, args[0].text
    else:
        port_or_none = valid_port(args[0].text)
        if port_or_none is None or directive != "port":
            return []
        port, host = port_or_none, args[1].text if len(args) > 1 else ""
    host_ip = host if re.match(r"^[\d.:]+$", host) else ""
    return [claim(src, line, "puma", "puma", port, directive, host_ip=host_ip, default=default,
                  note="default of ENV.fetch" if default else "")]


def _ruby_value(expr: str, scope: dict[str, _RubyValue]) -> _RubyValue:
    """Evaluate the forms Puma configs use for addresses and ports (see module doc)."""
    expr = re.sub(r"\.to_(?:i|s)\b", "", expr.strip())
    if m := re.fullmatch(r"Integer\((.*)\)", expr):
        expr = m.group(1).strip()
    default = False

    def fallback(text: str | None) -> str:
        nonlocal default
        if text is None:
            return UNRESOLVED
        default = True
        return _ruby_value(text, scope).text

    expr = _FETCH.sub(lambda m: fallback(m.group(3) if m.group(3) is not None else m.group(4)),
                      expr)
    expr = _ENV_OR.sub(lambda m: fallback(m.group(3)), expr)
    if len(expr) >= 2 and expr[0] == expr[-1] and expr[0] in "'\"":
        body = expr[1:-1]
        if expr[0] == '"':
            def interp(m: re.Match[str]) -> str:
                nonlocal default
                inner = _ruby_value(m.group(1), scope)
                default = default or inner.default
                return inner.text
            body = _INTERP.sub(interp, body)
        return _RubyValue(body, default)
    if expr in scope:
        return _RubyValue(scope[expr].text, scope[expr].default or default)
    return _RubyValue(expr, default)


def _split_args(text: str) -> list[str]:
    """Split at top-level commas (not inside quotes, parentheses or braces)."""
    out: list[str] = []
    depth = 0
    quote = ""
    start = 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(text[start:i].strip())
            start = i + 1
    out.append(text[start:].strip())
    return [a for a in out if a and not a.startswith(":") and "=>" not in a]


def _strip_ruby_comment(line: str) -> str:
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and line[i + 1:i + 2] != "{":
            return line[:i]
    return line


# -- gunicorn --------------------------------------------------------------------------------

def is_gunicorn_config(rel: str) -> bool:
    """``*gunicorn*.py`` (``gunicorn.conf.py``, ``gunicorn_config.py``...), any ``.py`` in a
    ``gunicorn/`` folder, and the older ``gunicorn.conf`` name (also Python)."""
    name = base_name(rel).lower()
    return (name.endswith(".py") and ("gunicorn" in name or rel.startswith("gunicorn/")
                                      or "/gunicorn/" in rel)) or name == "gunicorn.conf"


def scan_gunicorn(src: SourceFile) -> list[PortClaim]:
    from port_server.scanners.pyexpr import Evaluator, parse_module, top_statements

    try:
        tree = parse_module(src.text, "a gunicorn config file")
    except ScanError:
        if src.rel.endswith(".py"):
            raise
        return []  # a gunicorn.conf that is not Python (a supervisor or nginx file)
    ev = Evaluator()
    claims: list[PortClaim] = []
    for stmt in top_statements(tree.body):
        ev.assign(stmt)
        names = [t.id for t in getattr(stmt, "targets", []) if hasattr(t, "id")]
        if names != ["bind"]:
            continue
        value = ev.names["bind"]
        binds = value.value if isinstance(value.value, list) else [value.value]
        for bind in binds:
            if not isinstance(bind, str) or bind.startswith(("unix:", "fd://")):
                continue
            host, _, port_text = bind.rpartition(":")
            port = valid_port(port_text)
            if port is not None:
                claims.append(claim(src, stmt.lineno, "gunicorn", "gunicorn", port, "bind",
                                    host_ip=host.strip("[]") if re.match(r"^[\d.:\[\]]+$", host)
                                    else "", default=value.default,
                                    note="default of os.getenv" if value.default else ""))
    return claims
