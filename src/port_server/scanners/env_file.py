"""``.env`` files: ``*_PORT=N`` variables (and a bare ``PORT=N``), plus the dotenv reader that
compose interpolation uses.

Names: ``.env``, ``.env.*``, ``env.example``, ``env-example``, ``example.env``, ``*.env``. Commented
lines and the inside of multi-line quoted values are not variables; ``*_URL=http://localhost:3002``
holds a client URL, not a port; only a name that ends in ``_PORT`` (or is ``PORT``) with a plain
number counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from port_server.models import PortClaim
from port_server.scanners.base import SourceFile, base_name

_VARIANTS = ("example|sample|template|tmpl|tpl|dist|defaults?|local|dev|development|prod|"
             "production|test|testing|staging|ci|docker|override")
_ENV_NAME = re.compile(
    rf"^(?:\.env(?:\..+)?|env[.-](?:{_VARIANTS})|.+\.env(?:\.(?:{_VARIANTS}))?)$",
    re.IGNORECASE)
_NOT_ENV = re.compile(r"\.(?:[cm]?[jt]sx?|py|sh|ya?ml|json|md|txt|toml|cfg|ini|rs|go|rb|php|"
                      r"java|kt|swift|lock|xml|html?|css|scss|sql|bak|swp|orig)$",
                      re.IGNORECASE)
_ASSIGN = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$")
_PORT_NAME = re.compile(r"^(?:[A-Za-z0-9_]*_)?PORT$", re.IGNORECASE)


def is_env_file(rel: str) -> bool:
    name = base_name(rel)
    return bool(_ENV_NAME.match(name)) and not _NOT_ENV.search(name) and name != ".envrc"


def iter_assignments(text: str) -> Iterator[tuple[int, str, str]]:
    """(line number, name, value) for each assignment, dotenv rules: quotes, comments, multi-line
    quoted values (their inner lines are not assignments), ``export`` prefixes."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        lineno = i + 1
        i += 1
        m = _ASSIGN.match(line)
        if m is None or line.lstrip().startswith("#"):
            continue
        name, raw = m.group(1), m.group(2).strip()
        if raw[:1] in ("'", '"', "`"):
            quote = raw[0]
            body = raw[1:]
            while _closing_quote(body, quote) < 0 and i < len(lines):
                body += "\n" + lines[i]
                i += 1
            end = _closing_quote(body, quote)
            value = body[:end] if end >= 0 else body
            if quote == '"':
                value = value.replace("\\n", "\n").replace('\\"', '"')
        else:
            value = re.split(r"\s+#", raw, maxsplit=1)[0].strip()
        yield lineno, name, value


def _closing_quote(body: str, quote: str) -> int:
    pos = 0
    while True:
        pos = body.find(quote, pos)
        if pos < 0:
            return -1
        if quote == '"' and pos > 0 and body[pos - 1] == "\\":
            pos += 1
            continue
        return pos


def parse_dotenv(text: str) -> dict[str, str]:
    """The variables a dotenv file sets, later values interpolating earlier ones (as compose)."""
    from port_server.scanners.interpolate import UNRESOLVED, interpolate

    values: dict[str, str] = {}
    for _, name, value in iter_assignments(text):
        if "$" in value:
            value = interpolate(value, values).text.replace(UNRESOLVED, "")
        values[name] = value
    return values


def scan_env(src: SourceFile) -> list[PortClaim]:
    from port_server.scanners.interpolate import interpolate

    claims = []
    earlier: dict[str, str] = {}
    for lineno, name, raw in iter_assignments(src.text):
        value = raw
        if "$" in raw:  # WEB_PORT=${WEB_PORT:-3000}: the file's own earlier values and defaults
            expanded = interpolate(raw, earlier)
            value = expanded.text if expanded.resolved else ""
        earlier[name] = value
        if not _PORT_NAME.match(name) or not value.isdigit():
            continue
        port = int(value)
        if 0 < port <= 65535:
            claims.append(PortClaim(file=src.rel, line=lineno, kind="env", service=name,
                                    host_port=port))
    return claims
