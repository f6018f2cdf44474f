"""portctl scan-project | register | env | compose-ports | up: a project's ports, both ways.

Scanning runs here in the CLI process (it only reads files; yaml is imported when a compose file
is met). Registering goes through the client: list, check_port, allocate with an explicit port.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from port_server.cli import output
from port_server.errors import EXIT_ERROR, EXIT_OK, InvalidInput, PortServerError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from port_server.cli import Context
    from port_server.cli.project_plan import PlannedPort
    from port_server.client import RegistryClient
    from port_server.models import Allocation, PortClaim
    from port_server.scanners.project import ScanResult


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "scan-project", help="list the host ports a project declares (compose, npm, .env, make)",
        description="Scan DIR (default: the current directory) for host-bound ports: compose"
                    " files, package.json scripts, .env files, Makefiles and shell scripts."
                    " Container-only ports are left out; network_mode: host is flagged.")
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
        description="NAME=port for each allocation of app/instance (default name: the service"
                    " upper-cased plus _PORT). --write FILE updates only those lines in FILE and"
                    " keeps every other byte; names not in the file are appended.")
    identity_args(p)
    p.add_argument("--write", metavar="FILE", help="update (or create) this .env file")
    _var_arg(p)
    p.add_argument("--json", action="store_true", help="print {NAME: port} as JSON")
    p.set_defaults(func=cmd_env)

    p = sub.add_parser(
        "compose-ports", help='print a compose ports: snippet ("${PG_PORT}:5432")',
        description="Print the ports: snippet for each SERVICE: the host port from an .env"
                    " variable, the container port from a table of well-known images or"
                    " --container-port.")
    p.add_argument("services", nargs="+", metavar="SERVICE", help="service name(s)")
    p.add_argument("--container-port", type=_port_arg, metavar="N",
                   help="container port (for services not in the well-known table)")
    _var_arg(p)
    p.add_argument("--json", action="store_true", help="print the mappings as JSON")
    p.set_defaults(func=cmd_compose_ports)

    from port_server.cli import project_up

    project_up.register(sub)


def _port_arg(text: str) -> int:
    from port_server.cli.allocations import port_arg

    return port_arg(text)


def _var_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--var", action="append", default=[], metavar="SERVICE=NAME",
                   help="variable name for a service, e.g. --var postgres=PG_PORT (repeatable)")


def identity_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--app", help="application name (default: the git repository's name)")
    p.add_argument("--instance", help="instance (default: the worktree's folder name)")


def identity(args: argparse.Namespace, folder: Path) -> tuple[str, str]:
    from port_server.cli.identity import detect

    app, instance = args.app, args.instance
    if app is None or instance is None:
        default_app, default_instance = detect(folder)
        app, instance = app or default_app, instance or default_instance
    return app, instance


def project_path(text: str) -> Path:
    from pathlib import Path  # lazily: portctl's start-up path stays light

    return Path(text)


def project_dir(text: str) -> Path:
    folder = project_path(text)
    if not folder.is_dir():
        raise InvalidInput(f"DIR {text!r} is not a directory; give the project's folder",
                           field="dir")
    return folder


def scan(folder: Path) -> ScanResult:
    from port_server.scanners.project import scan_project

    result = scan_project(folder)
    for problem in result.problems:
        output.warn(f"{problem.file}: {problem.error}")
    for note in result.notes:
        output.warn(f"{note.file}: {note.error}")
    return result


def cmd_scan_project(args: argparse.Namespace, ctx: Context) -> int:
    result = scan(project_dir(args.dir))
    if args.json:
        output.as_json([c.to_dict() for c in result.claims])
        return EXIT_OK
    rows = [(f"{c.file}:{c.line}", c.kind, c.service, _port_text(c),
             c.container_port or "", c.protocol, c.host_ip, c.note) for c in result.claims]
    output.table(("FILE", "KIND", "SERVICE", "HOST PORT", "CONTAINER", "PROTO", "HOST IP",
                  "NOTE"), rows, empty="no host-bound ports found")
    return EXIT_OK


def _port_text(claim: PortClaim) -> str:
    if claim.network_mode_host:
        return "host-network"
    return str(claim.host_port) if claim.host_port is not None else "?"


def cmd_register(args: argparse.Namespace, ctx: Context) -> int:
    from port_server.cli.project_plan import plan

    folder = project_dir(args.dir)
    app, instance = identity(args, folder.resolve())
    result = scan(folder)
    planned = plan(result.claims)
    mine = ctx.client.list(allocation_filter(app, instance))
    outcomes = [register_one(ctx.client, app, instance, item, mine, args.dry_run)
                for item in planned]
    for claim in result.claims:
        if claim.network_mode_host:
            output.warn(f"{claim.file}:{claim.line}: {claim.service} uses network_mode: host;"
                        " only the ports listed for it are registered, check what else it binds")
        elif claim.host_port is None:
            output.warn(f"{claim.file}:{claim.line}: {claim.service}: {claim.note}; not"
                        " registered")
    if args.json:
        output.as_json(outcomes)
    elif not outcomes:
        output.emit("no host-bound ports found")
    for item in outcomes if not args.json else []:
        output.emit(f"{item['status']}: {item['port']}/{item['protocol']} {item['service']}"
                    f" ({item['file']}:{item['line']}){item['detail']}")
    return EXIT_ERROR if any(o["status"] == "conflict" for o in outcomes) else EXIT_OK


def allocation_filter(app: str, instance: str) -> Any:
    from port_server.models import AllocationFilter

    return AllocationFilter(app=app, instance=instance)


def register_one(client: RegistryClient, app: str, instance: str, item: PlannedPort,
                 mine: list[Allocation], dry_run: bool) -> dict[str, Any]:
    """Register one planned port; the outcome as a JSON-able dict (status + detail)."""
    from port_server.errors import Conflict
    from port_server.models import AllocationRequest

    claim = item.claim
    protocol = claim.protocol or "tcp"
    outcome: dict[str, Any] = {"service": item.service, "port": item.port, "protocol": protocol,
                               "file": claim.file, "line": claim.line, "kind": claim.kind,
                               "app": app, "instance": instance, "detail": ""}

    def done(status: str, detail: str = "") -> dict[str, Any]:
        outcome["status"] = status
        outcome["detail"] = f": {detail}" if detail else ""
        return outcome

    for alloc in mine:
        if alloc.port == item.port and alloc.protocol == protocol:
            return done("already registered to this project",
                        "" if alloc.service == item.service else f"as {alloc.service}")
    same_name = [a for a in mine if a.service == item.service]
    if same_name:
        return done("conflict", f"{same_name[0].key} already holds port {same_name[0].port};"
                                f" release it first (portctl release --id {same_name[0].id})")
    status = client.check_port(item.port)
    for holder in status.holders or ((status.holder,) if status.holder else ()):
        if holder.protocol == protocol:
            return done("conflict", f"held by {holder.key} (id={holder.id})")
    if status.in_use:
        who = ", ".join(p.describe() for p in status.processes) or "an unrelated process"
        return done("conflict", f"bound on this machine by {who}")
    if dry_run:
        return done("would register")
    try:
        client.allocate(AllocationRequest(
            app=app, instance=instance, service=item.service, port=item.port,
            protocol=protocol, source="scan", note=f"{claim.file}:{claim.line}"))
    except Conflict as exc:  # lost a race with another registration, or a process bound it
        return done("conflict", exc.message)
    except PortServerError:
        raise
    return done("registered")


def parse_var_overrides(pairs: list[str]) -> dict[str, str]:
    from port_server.exporters.env_file import VAR_NAME

    out = {}
    for pair in pairs:
        service, sep, name = pair.partition("=")
        if not sep or not service or not VAR_NAME.match(name):
            raise InvalidInput(f"--var {pair!r}: use SERVICE=NAME, e.g. --var postgres=PG_PORT",
                               field="var")
        out[service] = name
    return out


def cmd_env(args: argparse.Namespace, ctx: Context) -> int:
    from port_server.cli.project_plan import env_var_for

    overrides = parse_var_overrides(args.var)
    app, instance = identity(args, project_path(".").resolve())
    allocs = sorted(ctx.client.list(allocation_filter(app, instance)), key=lambda a: a.service)
    values = {overrides.get(a.service) or env_var_for(a.service): a.port for a in allocs}
    if args.write:
        write_env_file(project_path(args.write), values, announce=not args.json)
    if args.json:
        output.as_json(values)
    elif not args.write:
        if not values:
            output.warn(f"no allocations for {app}/{instance}")
        for name, port in values.items():
            output.emit(f"{name}={port}")
    return EXIT_OK


def write_env_file(path: Path, values: Mapping[str, int | str], announce: bool = True) -> None:
    """Update ``path`` in place (only the lines for ``values``) and say what changed (on stderr
    when ``announce`` is False, so that --json output stays one JSON document)."""
    from port_server.exporters.env_file import update_env_text

    try:
        text = path.read_bytes().decode("utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"--write {path}: cannot read it ({exc})", field="write") from None
    update = update_env_text(text, values)
    if update.text != text:
        tmp = path.with_name(f".{path.name}.portctl-tmp")
        try:  # write then rename: a reader never sees half a file
            tmp.write_bytes(update.text.encode("utf-8"))
            tmp.replace(path)
        except OSError as exc:
            raise InvalidInput(f"{path}: cannot write it ({exc.strerror or exc}); check the"
                               " folder exists and is writable", field="write") from None
    stream = None if announce else sys.stderr
    for name in update.changed:
        output.emit(f"updated {name}={values[name]} in {path}", stream)
    for name in update.added:
        output.emit(f"added {name}={values[name]} to {path}", stream)
    for name in update.unchanged:
        output.emit(f"unchanged {name}={values[name]} in {path}", stream)


def cmd_compose_ports(args: argparse.Namespace, ctx: Context) -> int:
    from port_server.cli.project_plan import KNOWN_CONTAINER_PORTS, env_var_for

    overrides = parse_var_overrides(args.var)
    entries = []
    for service in args.services:
        container = args.container_port or KNOWN_CONTAINER_PORTS.get(service.lower())
        if container is None:
            raise InvalidInput(f"no known container port for {service!r}; pass"
                               " --container-port N", field="container_port")
        var = overrides.get(service) or env_var_for(service)
        entries.append({"service": service, "variable": var, "container_port": container,
                        "mapping": f"${{{var}}}:{container}"})
    if args.json:
        output.as_json(entries)
        return EXIT_OK
    for entry in entries:
        output.emit(f"  {entry['service']}:\n    ports:\n      - \"{entry['mapping']}\"")
    return EXIT_OK
