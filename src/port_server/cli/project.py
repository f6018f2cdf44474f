"""portctl scan-project | register | env | compose-ports | up: a project's ports, both ways.

The work is done by ``workflows.project`` (shared with the MCP server); these commands parse
arguments and present the results.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from port_server.cli import output
from port_server.errors import EXIT_ERROR, EXIT_OK
from port_server.safe_write import FOLLOW_HELP

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from port_server.cli import Context
    from port_server.models import PortClaim
    from port_server.scanners.project import ScanResult


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "scan-project", help="list the host ports a project declares (compose, npm, .env, make,"
                             " dev containers, Procfiles, dev-server configs, task runners)",
        description="Scan DIR (default: the current directory) for host-bound ports: compose"
                    " files, package.json scripts, .env files, Makefiles and shell scripts, dev"
                    " containers, Procfiles, vite/astro/nuxt/webpack/angular configs, Spring"
                    " Boot, puma and gunicorn config, justfiles, mise, Taskfiles and Tiltfiles."
                    " Container-only ports are left out; network_mode: host is flagged. Nothing"
                    " in the project is run.")
    p.add_argument("dir", nargs="?", default=".", metavar="DIR", help="project directory")
    p.add_argument("--json", action="store_true", help="print a JSON array of port claims")
    p.set_defaults(func=cmd_scan_project)

    p = sub.add_parser(
        "register", help="register every host port a project declares (idempotent)",
        description="Scan DIR and register each host-bound port with its explicit port, named"
                    " after its compose service, npm script or variable. Per port: registered,"
                    " already registered to this project, or conflict (held by another app, or"
                    " bound by an unrelated process); a conflict registers nothing for that port"
                    " and makes the exit code 1.")
    p.add_argument("dir", nargs="?", default=".", metavar="DIR", help="project directory")
    identity_args(p)
    p.add_argument("--dry-run", action="store_true", help="report what would happen, change"
                                                          " nothing")
    p.add_argument("--json", action="store_true", help="print the outcome per port as JSON")
    p.set_defaults(func=cmd_register)

    p = sub.add_parser(
        "env", help="print or write NAME=port lines for a project's allocations",
        description="NAME=port for each allocation of app/instance, plus the derived values of"
                    " the [env] templates (config file, .portctl.toml). NAME: --var, else the"
                    " variable the compose file here references, else the service upper-cased"
                    " plus _PORT (the same rule as `up`). --write FILE updates only those lines"
                    " in FILE and keeps every other byte; names not in the file are appended.",
        epilog='direnv: put `eval "$(portctl env --export)"` in .envrc')
    identity_args(p)
    p.add_argument("--write", metavar="FILE", help="update (or create) this .env file")
    p.add_argument("--follow-symlinks", action="store_true", help=FOLLOW_HELP)
    p.add_argument("--export", action="store_true",
                   help="print `export NAME=value` lines for a shell or direnv to eval")
    _var_arg(p)
    p.add_argument("--json", action="store_true", help="print {NAME: port} as JSON")
    p.set_defaults(func=cmd_env)

    p = sub.add_parser(
        "compose-ports", help='print a compose ports: snippet ("${PG_PORT:-5432}:5432")',
        description="Print the ports: snippet for each SERVICE: the host port from an .env"
                    " variable (named as `env` and `up` name it) defaulting to the container"
                    " port, which comes from a table of well-known images or --container-port.")
    p.add_argument("services", nargs="+", metavar="SERVICE", help="service name(s)")
    p.add_argument("--container-port", type=_port_arg, metavar="N",
                   help="container port (for services not in the well-known table)")
    _var_arg(p)
    p.add_argument("--json", action="store_true", help="print the mappings as JSON")
    p.set_defaults(func=cmd_compose_ports)


def _port_arg(text: str) -> int:
    from port_server.cli.args import port_arg

    return port_arg(text)


def _var_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--var", action="append", default=[], metavar="SERVICE=NAME",
                   help="variable name for a service, e.g. --var postgres=PG_PORT (repeatable)")


def identity_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--app", help="application name (default: the git repository's name)")
    p.add_argument("--instance", help="instance (default: the worktree's folder name)")


def identity(args: argparse.Namespace, folder: Path) -> tuple[str, str]:
    from port_server.workflows.project import identity as resolve

    return resolve(args.app, args.instance, folder)


def scan(folder: Path) -> ScanResult:
    from port_server.scanners.project import scan_project
    from port_server.workflows.project import scan_warnings

    result = scan_project(folder)
    for line in scan_warnings(result):
        output.warn(line)
    return result


def cmd_scan_project(args: argparse.Namespace, ctx: Context) -> int:
    from port_server.workflows.project import project_dir

    result = scan(project_dir(args.dir))
    if args.json:
        output.as_json([c.to_dict() for c in result.claims])
        return EXIT_OK
    # SOURCE: the key or entry that sets the port (forwardPorts, server.port, a recipe).
    rows = [(f"{c.file}:{c.line}", c.kind, c.service, _port_text(c),
             c.container_port or "", c.protocol, c.host_ip, c.extra.get("source", ""), c.note)
            for c in result.claims]
    output.table(("FILE", "KIND", "SERVICE", "HOST PORT", "CONTAINER", "PROTO", "HOST IP",
                  "SOURCE", "NOTE"), rows, empty="no host-bound ports found")
    return EXIT_OK


def _port_text(claim: PortClaim) -> str:
    if claim.network_mode_host:
        return "host-network"
    return str(claim.host_port) if claim.host_port is not None else "?"


def cmd_register(args: argparse.Namespace, ctx: Context) -> int:
    from port_server.workflows.project import project_dir, register

    folder = project_dir(args.dir)
    app, instance = identity(args, folder.resolve())
    done = register(ctx.client, folder, app, instance, args.dry_run, result=scan(folder))
    for line in done.skipped:
        output.warn(line)
    if args.json:
        output.as_json(done.outcomes)
    elif not done.outcomes:
        output.emit("no host-bound ports found")
    for item in done.outcomes if not args.json else []:
        output.emit(f"{item['status']}: {item['port']}/{item['protocol']} {item['service']}"
                    f" ({item['file']}:{item['line']}){item['detail']}")
    return EXIT_ERROR if done.conflicts else EXIT_OK


def cmd_env(args: argparse.Namespace, ctx: Context) -> int:
    from port_server.workflows.env import env_values
    from port_server.workflows.project import parse_var_overrides, project_path

    overrides = parse_var_overrides(args.var)
    here = project_path(".").resolve()
    app, instance = identity(args, here)
    skipped: dict[str, str] = {}
    values = env_values(ctx.client, app, instance, overrides, here, skipped)
    for name, why in skipped.items():
        output.warn(f"{name}: left out, {why}")
    if args.write:
        write_env_file(project_path(args.write), values, announce=not args.json,
                       follow_symlinks=args.follow_symlinks)
    if args.json:
        output.as_json(values)
    elif args.export:
        import shlex

        for name, value in values.items():
            output.emit(f"export {name}={shlex.quote(str(value))}")
    elif not args.write:
        if not values:
            output.warn(f"no allocations for {app}/{instance}")
        for name, value in values.items():
            output.emit(f"{name}={value}")
    return EXIT_OK


def write_env_file(path: Path, values: Mapping[str, int | str], announce: bool = True,
                   follow_symlinks: bool = False) -> None:
    """Update ``path`` in place (only the lines for ``values``) and say what changed (on stderr
    when ``announce`` is False, so that --json output stays one JSON document)."""
    from port_server.workflows import project

    update = project.write_env_file(path, values, follow_symlinks)
    stream = None if announce else sys.stderr
    for line in project.env_update_lines(path, values, update):
        output.emit(line, stream)


def cmd_compose_ports(args: argparse.Namespace, ctx: Context) -> int:
    from pathlib import Path

    from port_server.workflows.env import compose_port_entries
    from port_server.workflows.project import parse_var_overrides

    entries = compose_port_entries(args.services, args.container_port,
                                   parse_var_overrides(args.var), Path.cwd())
    if args.json:
        output.as_json(entries)
        return EXIT_OK
    for entry in entries:
        output.emit(f"  {entry['service']}:\n    ports:\n      - \"{entry['mapping']}\"")
    return EXIT_OK
