"""Procfiles (``Procfile``, ``Procfile.dev``, ``Procfile.*``): ``name: command`` lines, each command
read with the same command-line knowledge as package.json scripts (``rails s -p 3000``,
``PORT=3000 cmd``, ``${PORT:=3000}``). The process name is the claim's service.

Foreman, overmind and honcho load the project's ``.env``, so its variables resolve ``$VAR``; a bare
``$PORT`` they assign at run time is not in the files and gives no claim.
"""

from __future__ import annotations

import re

from port_server.models import PortClaim
from port_server.scanners.base import SourceFile, base_name
from port_server.scanners.shell_text import command_claims

_PROCESS = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]*)\s*:\s*(.+)$")
_NOT_PROCFILES = (".md", ".txt", ".example.md", ".orig", ".bak", ".swp")


def is_procfile(rel: str) -> bool:
    name = base_name(rel)
    return name == "Procfile" or (name.startswith("Procfile.") and not name.endswith(
        _NOT_PROCFILES))


def scan_procfile(src: SourceFile) -> list[PortClaim]:
    claims: list[PortClaim] = []
    for lineno, line in enumerate(src.text.splitlines(), start=1):
        m = _PROCESS.match(line.strip())
        if m is None or line.lstrip().startswith("#"):
            continue
        claims.extend(command_claims(src, "procfile", m.group(1), lineno, m.group(2),
                                     dict(src.dotenv), reads_dotenv=True))
    return claims
