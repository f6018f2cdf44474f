"""Host ports a compose file publishes, for Dokploy compose services (pure, no I/O).

A thin adapter over the project scanner's compose parser (``scanners.compose``), so Dokploy sync
and ``portctl scan-project`` read compose files the same way: only fixed host bindings count, a
bare ``"80"`` lets Docker pick one. Variables resolve from the compose's env text (Dokploy's
"Environment" tab), never from this process's environment. Values of that env are secrets: they
only resolve port variables and never appear in a note (notes name variables, not values).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SERVICE_IN_ERROR = re.compile(r"service ([A-Za-z0-9._-]+):")
#: A range wider than this is not turned into one allocation per port.
MAX_RANGE = 100


@dataclass(frozen=True)
class ComposePort:
    service: str
    published: int
    target: int
    protocol: str = "tcp"


def parse_env(text: str) -> dict[str, str]:
    """KEY=VALUE lines (comments, blanks, quotes and ``export`` allowed), as Dokploy stores env."""
    from port_server.scanners.env_file import parse_dotenv

    return parse_dotenv(text)


def compose_host_ports(yaml_text: str, env_text: str = "") -> tuple[list[ComposePort], list[str]]:
    """Every fixed host port of a compose file, plus notes on what could not be read."""
    from port_server.scanners.base import ScanError, SourceFile
    from port_server.scanners.compose import scan_compose

    notes: list[str] = []
    try:
        claims = scan_compose(SourceFile("compose.yml", yaml_text, parse_env(env_text)))
    except ScanError as exc:
        if not str(exc).startswith("service "):
            return [], ["the compose file is not valid YAML"]
        claims = exc.claims
        # The scanner's messages may quote an interpolated value (a secret): name services only.
        where = sorted(set(_SERVICE_IN_ERROR.findall(str(exc))))
        notes.append(f"some port entries could not be read (service {', '.join(where)})")
    per_entry: dict[tuple[str, int], int] = {}
    for claim in claims:
        per_entry[(claim.service, claim.line)] = per_entry.get((claim.service, claim.line), 0) + 1
    found: list[ComposePort] = []
    for claim in claims:
        if claim.network_mode_host:
            notes.append(f"service {claim.service}: network_mode host; its ports are not"
                         " declared")
        elif claim.host_port is None:
            notes.append(f"service {claim.service}: line {claim.line}: {claim.note}")
        elif per_entry[(claim.service, claim.line)] > MAX_RANGE:
            note = f"service {claim.service}: line {claim.line}: port range is too wide"
            if note not in notes:
                notes.append(note)
        elif claim.protocol in ("tcp", "udp"):
            found.append(ComposePort(claim.service, claim.host_port,
                                     claim.container_port or claim.host_port, claim.protocol))
    return found, notes
