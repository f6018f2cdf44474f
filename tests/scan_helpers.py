"""Helpers for the scanner tests: write a small project, scan it, compare (file, port, proto)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from port_server.models import PortClaim
from port_server.scanners.project import ScanResult, scan_project


def write_project(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def scan(root: Path, files: dict[str, str] | None = None,
         environ: dict[str, str] | None = None) -> ScanResult:
    if files:
        write_project(root, files)
    return scan_project(root, environ=environ or {})


def ports(claims: list[PortClaim]) -> list[tuple[str, int | None, str]]:
    """(service, host port, protocol) in scan order; flags show as host port None, proto ''."""
    return [(c.service, c.host_port, c.protocol) for c in claims]


def keys(claims: list[PortClaim]) -> set[tuple[int | None, str, str]]:
    return {(c.host_port, c.protocol, c.host_ip) for c in claims}
