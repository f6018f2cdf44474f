"""portctl up: give this checkout of a compose project its own host ports.

Every service that publishes a port gets an allocation (idempotent). A port set by a variable the
compose file already references (``"${PG_PORT:-5432}:5432"``) is allocated — its current value if
that is free, another port if not — and written to the project's ``.env``, so a second worktree of
the same project gets its own ports with one command. A literal port (``"5432:5432"``) cannot move
without editing the compose file, so it is registered as written, or reported as a conflict.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from port_server.cli import output
from port_server.errors import EXIT_ERROR, EXIT_OK, InvalidInput

if TYPE_CHECKING:
    from pathlib import Path

    from port_server.cli import Context
    from port_server.client import RegistryClient
    from port_server.models import Allocation, PortClaim

_TEMPLATE_SUFFIXES = (".example", ".sample", ".dist", ".template", ".tmpl")


def register(sub: argparse._SubParsersAction[Any]) -> None:
    from port_server.cli.project import identity_args

    p = sub.add_parser(
        "up", help="allocate ports for a compose project and write them to .env",
        description="For the compose file(s) in DIR: allocate every service that publishes a"
                    " port (idempotent) and write the .env variables the compose file already"
                    " references for host ports, so each worktree gets its own ports. Literal"
                    " host ports are registered as written.")
    p.add_argument("dir", nargs="?", default=".", metavar="DIR", help="project directory")
    p.add_argument("--service", action="append", default=[], metavar="NAME",
                   help="only this compose service (repeatable)")
    identity_args(p)
    p.add_argument("--env-file", metavar="FILE", help="the .env to write (default: DIR/.env)")
    p.add_argument("--json", action="store_true", help="print the outcome per port as JSON")
    p.set_defaults(func=cmd_up)


def compose_claims(folder: Path) -> list[PortClaim]:
    """Port claims of the compose files at the top of ``folder`` (templates left out)."""
    from port_server.scanners import SCANNERS
    from port_server.scanners.project import scan_project

    compose = tuple(s for s in SCANNERS if s.kind == "compose")
    result = scan_project(folder, scanners=compose)
    for problem in result.problems:
        output.warn(f"{problem.file}: {problem.error}")
    return [c for c in result.claims if "/" not in c.file and not c.network_mode_host
            and not c.file.endswith(_TEMPLATE_SUFFIXES)]


def cmd_up(args: argparse.Namespace, ctx: Context) -> int:
    from port_server.cli.project import (
        allocation_filter,
        identity,
        project_dir,
        project_path,
        write_env_file,
    )

    folder = project_dir(args.dir)
    app, instance = identity(args, folder.resolve())
    claims = compose_claims(folder)
    if not claims and not any(_is_compose(p) for p in folder.iterdir()):
        raise InvalidInput(f"no compose file in {folder}; run `portctl up` in a compose"
                           " project's folder", field="dir")
    services = {c.service for c in claims}
    unknown = [s for s in args.service if s not in services]
    if unknown:
        raise InvalidInput(f"--service {unknown[0]!r} publishes no port here; choose from"
                           f" {', '.join(sorted(services)) or '(none)'}", field="service")
    if args.service:
        claims = [c for c in claims if c.service in args.service]
    mine = {a.service: a for a in ctx.client.list(allocation_filter(app, instance))}
    outcomes: list[dict[str, Any]] = []
    env_values: dict[str, int | str] = {}
    for name, claim in _named(claims):
        var = claim.extra.get("host_var")
        if var and var in env_values:
            continue
        outcome = _up_one(ctx.client, app, instance, name, claim, mine, str(var or ""))
        outcomes.append(outcome)
        if var and outcome["port"]:
            ip = claim.extra.get("host_var_ip")
            env_values[str(var)] = f"{ip}:{outcome['port']}" if ip else int(outcome["port"])
    env_path = project_path(args.env_file) if args.env_file else folder / ".env"
    if env_values:
        write_env_file(env_path, env_values, announce=not args.json)
        for var, port in env_values.items():
            if os.environ.get(var, str(port)) != str(port):
                output.warn(f"${var} is set in your environment ({os.environ[var]}); compose will"
                            f" use it instead of {port} from {env_path}")
    if args.json:
        output.as_json(outcomes)
    else:
        for o in outcomes:
            where = f" {o['variable']}={o['port']}" if o["variable"] else f" {o['port']}"
            output.emit(f"{o['status']}: {o['service']}{where}{o['detail']}")
        if not outcomes:
            output.emit("no service publishes a host port")
    return EXIT_ERROR if any(o["status"] == "conflict" for o in outcomes) else EXIT_OK


def _is_compose(path: Path) -> bool:
    from port_server.scanners.compose import is_compose_file

    return path.is_file() and is_compose_file(path.name)


def _named(claims: list[PortClaim]) -> list[tuple[str, PortClaim]]:
    """(registry service name, claim): ``service`` alone, or ``service-<container port>`` when a
    service publishes several ports; one entry per distinct port declaration."""
    from port_server.cli.identity import sanitize

    seen: set[tuple[Any, ...]] = set()
    unique: list[PortClaim] = []
    for c in claims:
        key = (c.service, c.extra.get("host_var") or c.host_port, c.protocol)
        if key not in seen:
            seen.add(key)
            unique.append(c)
    count: dict[str, int] = {}
    for c in unique:
        count[c.service] = count.get(c.service, 0) + 1
    out = []
    for c in unique:
        name = sanitize(c.service)
        if count[c.service] > 1:
            suffix = str(c.container_port or c.host_port or c.extra.get("host_var", "x"))
            name = sanitize(f"{name}-{suffix}" + ("" if c.protocol == "tcp" else f"-{c.protocol}"))
        out.append((name, c))
    return out


def _up_one(client: RegistryClient, app: str, instance: str, name: str, claim: PortClaim,
            mine: dict[str, Allocation], var: str) -> dict[str, Any]:
    from port_server.errors import Conflict
    from port_server.models import AllocationRequest

    protocol = claim.protocol or "tcp"
    outcome: dict[str, Any] = {"service": name, "compose_service": claim.service,
                               "variable": var, "port": None, "protocol": protocol,
                               "file": claim.file, "line": claim.line, "detail": ""}
    existing = mine.get(name)
    if existing is not None:
        if var or existing.port == claim.host_port:
            outcome.update(status="already allocated", port=existing.port)
            return outcome
        outcome.update(status="conflict", port=claim.host_port,
                       detail=f": {existing.key} holds {existing.port}, the compose file says"
                              f" {claim.host_port}")
        return outcome
    note = f"{claim.file}:{claim.line}"

    def request(port: int | None) -> AllocationRequest:
        return AllocationRequest(app=app, instance=instance, service=name, port=port,
                                 protocol=protocol, source="compose", note=note)

    if claim.host_port is not None:
        try:
            alloc = client.allocate(request(claim.host_port)).allocation
            outcome.update(status="allocated", port=alloc.port)
            return outcome
        except Conflict as exc:
            if not var:
                outcome.update(status="conflict", port=claim.host_port,
                               detail=f": {exc.message} (a literal port; make it"
                                      f" \"${{{name.upper().replace('-', '_')}_PORT:-"
                                      f"{claim.host_port}}}:...\" to let `up` move it)")
                return outcome
    alloc = client.allocate(request(None)).allocation
    moved = f" (instead of {claim.host_port})" if claim.host_port else ""
    outcome.update(status="allocated", port=alloc.port, detail=moved)
    return outcome
