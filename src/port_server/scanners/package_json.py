"""``package.json``: host ports in npm scripts (``--port 3001``, ``-p 3001``, ``PORT=3001 cmd``,
the dev servers' documented flags, ``docker run -p`` inside a script). The script name is the
claim's service."""

from __future__ import annotations

import json

from port_server.models import PortClaim
from port_server.scanners.base import ScanError, SourceFile, base_name
from port_server.scanners.commandline import scan_command
from port_server.scanners.interpolate import interpolate


def is_package_json(rel: str) -> bool:
    return base_name(rel) == "package.json"


def scan_package_json(src: SourceFile) -> list[PortClaim]:
    try:
        data = json.loads(src.text)
    except ValueError as exc:
        raise ScanError(f"invalid JSON: {exc}") from None
    scripts = data.get("scripts") if isinstance(data, dict) else None
    if not isinstance(scripts, dict):
        return []
    lines = src.text.splitlines()
    claims: list[PortClaim] = []
    for name, command in scripts.items():
        if not isinstance(command, str):
            continue
        # Shell defaults such as ${PORT:-3000} apply; the caller's environment does not.
        expanded = interpolate(command, {}).text
        for hit in scan_command(expanded):
            claims.append(PortClaim(
                file=src.rel, line=_line_of_script(lines, name), kind="npm", service=name,
                host_port=hit.host_port, container_port=hit.container_port,
                protocol=hit.protocol, host_ip=hit.host_ip))
    return claims


def _line_of_script(lines: list[str], name: str) -> int:
    key = json.dumps(name)
    for i, line in enumerate(lines, start=1):
        if line.lstrip().startswith(key):
            return i
    return 1
