"""Scanners: pure functions over models that find ports (project files, live sockets).

Project files: each file to ``PortClaim``s, registered in one table.

Each entry of ``SCANNERS`` says which files it reads (by path relative to the project) and the
function that turns one file into claims; ``project.scan_project`` walks a tree and applies them.
A plugin scanner would add one ``Scanner`` to this table. No module here imports yaml at import
time (portctl must start fast); the compose scanner imports it when it meets a compose file.
"""

from __future__ import annotations

from port_server.scanners.base import ScanError, Scanner, SourceFile
from port_server.scanners.compose import is_compose_file, scan_compose
from port_server.scanners.env_file import is_env_file, scan_env
from port_server.scanners.makefile import (
    is_makefile,
    is_shell_script,
    scan_makefile,
    scan_shell_script,
)
from port_server.scanners.package_json import is_package_json, scan_package_json

SCANNERS: tuple[Scanner, ...] = (
    Scanner("compose", "compose", is_compose_file, scan_compose, wants_env=True),
    Scanner("package_json", "npm", is_package_json, scan_package_json),
    Scanner("env_file", "env", is_env_file, scan_env),
    Scanner("makefile", "make", is_makefile, scan_makefile, wants_env=True),
    Scanner("shell_script", "script", is_shell_script, scan_shell_script),
)

KINDS = tuple(s.kind for s in SCANNERS)

__all__ = ["KINDS", "SCANNERS", "ScanError", "Scanner", "SourceFile"]
