"""Scanners: pure functions over models that find ports (project files, live sockets).

Project files: each file to ``PortClaim``s, registered in one table.

Each entry of ``SCANNERS`` says which files it reads (by path relative to the project) and the
function that turns one file into claims; ``project.scan_project`` walks a tree and applies them.
A plugin scanner would add one ``Scanner`` to this table. No module here imports yaml at import
time (portctl must start fast); the compose scanner imports it when it meets a compose file.
``docs/scanning.md`` describes every file kind and what counts as a bind.
"""

from __future__ import annotations

from port_server.scanners.app_servers import (
    is_gunicorn_config,
    is_puma_config,
    scan_gunicorn,
    scan_puma,
)
from port_server.scanners.base import ScanError, Scanner, SourceFile
from port_server.scanners.compose import is_compose_file, scan_compose
from port_server.scanners.devcontainer import is_devcontainer, scan_devcontainer
from port_server.scanners.env_file import is_env_file, scan_env
from port_server.scanners.frontend import (
    JS_KINDS,
    is_angular_workspace,
    is_js_config,
    scan_angular,
    scan_js_config,
)
from port_server.scanners.justfile import is_justfile, scan_justfile
from port_server.scanners.makefile import (
    is_makefile,
    is_shell_script,
    scan_makefile,
    scan_shell_script,
)
from port_server.scanners.package_json import is_package_json, scan_package_json
from port_server.scanners.procfile import is_procfile, scan_procfile
from port_server.scanners.spring import is_spring_config, scan_spring
from port_server.scanners.task_runners import is_mise_file, is_taskfile, scan_mise, scan_taskfile
from port_server.scanners.tiltfile import is_tiltfile, scan_tiltfile

SCANNERS: tuple[Scanner, ...] = (
    Scanner("compose", "compose", is_compose_file, scan_compose, wants_env=True),
    Scanner("package_json", "npm", is_package_json, scan_package_json),
    Scanner("env_file", "env", is_env_file, scan_env),
    Scanner("makefile", "make", is_makefile, scan_makefile, wants_env=True),
    Scanner("shell_script", "script", is_shell_script, scan_shell_script),
    Scanner("devcontainer", "devcontainer", is_devcontainer, scan_devcontainer),
    Scanner("procfile", "procfile", is_procfile, scan_procfile, wants_env=True),
    # One entry for every JS/TS dev-server config; the claim's kind is the framework (vite,
    # astro, nuxt, webpack-dev-server...), from port_server.frameworks.
    Scanner("js_config", "vite", is_js_config, scan_js_config),
    Scanner("angular", "angular", is_angular_workspace, scan_angular),
    Scanner("spring", "spring", is_spring_config, scan_spring),
    Scanner("puma", "puma", is_puma_config, scan_puma),
    Scanner("gunicorn", "gunicorn", is_gunicorn_config, scan_gunicorn),
    Scanner("justfile", "just", is_justfile, scan_justfile, wants_env=True),
    Scanner("mise", "mise", is_mise_file, scan_mise),
    Scanner("taskfile", "taskfile", is_taskfile, scan_taskfile, wants_env=True),
    Scanner("tiltfile", "tilt", is_tiltfile, scan_tiltfile),
)

KINDS = tuple(dict.fromkeys([*(s.kind for s in SCANNERS), *JS_KINDS]))

__all__ = ["KINDS", "SCANNERS", "ScanError", "Scanner", "SourceFile"]
