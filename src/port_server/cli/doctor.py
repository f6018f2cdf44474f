"""portctl doctor: one line per check of the set-up (ok, warn or fail); exit 1 when any fails."""

from __future__ import annotations

import argparse

from port_server import __version__
from port_server.cli import output
from port_server.cli.output import Check
from port_server.errors import EXIT_ERROR, EXIT_OK, PortServerError, ServerUnreachable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from port_server.cli import Context

COMMANDS = ("port-server", "portctl", "portman")


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "doctor", help="check the set-up: server, version, database, data dir, pools, skill, PATH,"
                       " MCP SDK, proxy",
        description="Check the set-up, one line per check (ok, warn or fail): server reachable"
                    " and the same version as portctl, database healthy, data dir writable,"
                    " kernel ephemeral range vs the pools, agent skill installed, commands on"
                    " PATH, MCP SDK installed, the proxy (running, one round trip, CA"
                    " trusted). Exit 1 when any check fails.")
    p.add_argument("--json", action="store_true", help="print the checks as a JSON array")
    p.set_defaults(func=cmd_doctor)


def check_server(ctx: Context) -> tuple[list[Check], dict[str, Any] | None]:
    try:
        health = ctx.client.health()
    except ServerUnreachable as exc:
        return [Check("server", "fail", f"{exc.message}"),
                Check("database", "warn", "not checked: the server is unreachable")], None
    except PortServerError as exc:  # /healthz answers 503 when the store is down
        addr = ctx.client.via
        return [Check("server", "ok", f"port-server answers at {addr}"),
                Check("database", "fail", exc.message)], None
    version = health.get("version")
    addr = f"{ctx.client.via} (address from {ctx.client.endpoint.source})"
    checks = [
        Check("server", "ok", f"port-server {version} at {addr}") if version == __version__ else
        Check("server", "warn", f"port-server {version} at {addr}, but portctl is {__version__};"
                                " restart the server after upgrading (portctl restart)"),
    ]
    info = ctx.client.info()
    checks.append(Check("database", "ok", f"healthy ({info.get('store', '?')},"
                                          f" {len(info.get('migrations') or [])} migrations)"))
    return checks, info


def check_data_dir(info: dict[str, Any] | None) -> Check:
    import os
    import tempfile
    from pathlib import Path

    from port_server.settings import data_dir_from_env

    path = Path(info["data_dir"]) if info and info.get("data_dir") else data_dir_from_env()
    if not path.exists():
        parent = next((p for p in path.parents if p.exists()), Path("/"))
        if parent.is_dir() and os.access(parent, os.W_OK):
            return Check("data dir", "warn", f"{path} does not exist yet; `portctl start` creates"
                                             " it")
        return Check("data dir", "fail", f"{path} cannot be created: {parent} is not a writable"
                                         " folder; set PORT_SERVER_HOME to a writable folder")
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        return Check("data dir", "fail", f"{path} is not writable ({exc.strerror}); fix its"
                                         " permissions or set PORT_SERVER_HOME")
    return Check("data dir", "ok", f"{path} is writable")


def check_pools(ctx: Context, info: dict[str, Any] | None) -> Check:
    if info is None:
        return Check("pools", "warn", "not checked: the server is unreachable")
    eph = info.get("ephemeral_range")
    if not eph:
        return Check("pools", "ok", "kernel ephemeral range unknown on this system")
    lo, hi = int(eph[0]), int(eph[1])
    overlaps = [f"{p['name']} ({p['lo']}-{p['hi']})" for p in ctx.client.pools()
                if p["lo"] <= hi and p["hi"] >= lo]
    if overlaps:
        return Check("pools", "warn",
                     f"pools overlap the kernel ephemeral range {lo}-{hi}: {', '.join(overlaps)};"
                     " auto-assign skips that part, but outgoing connections may take those"
                     " ports; move the pools below it in config.toml")
    return Check("pools", "ok", f"no pool overlaps the kernel ephemeral range {lo}-{hi}")


def check_skill() -> Check:
    from port_server.cli.skill import global_skill_dirs, project_skill_dir, status

    found = []
    for skills_dir in [project_skill_dir(), *global_skill_dirs()]:
        state = status(skills_dir)
        if state:
            found.append((skills_dir / "port-server", state))
    if not found:
        return Check("skill", "warn", "the agent skill is not installed; run `portctl skill"
                                      " install` (this project) or `portctl skill install"
                                      " --global`")
    if any(state != "current" for _, state in found):
        stale = ", ".join(str(p) for p, state in found if state != "current")
        return Check("skill", "warn", f"installed but differs from this version in {stale};"
                                      " re-run `portctl skill install` (--force for edited"
                                      " files)")
    return Check("skill", "ok", "installed in " + ", ".join(str(p) for p, _ in found))


def check_path() -> Check:
    import shutil

    missing = [c for c in COMMANDS if shutil.which(c) is None]
    if missing:
        return Check("PATH", "warn", f"not on PATH: {', '.join(missing)}; run `make build` in"
                                     " the port-server repository and add its bin/ to PATH")
    return Check("PATH", "ok", f"{', '.join(COMMANDS)} found")


def check_mcp() -> Check:
    from importlib.util import find_spec

    if find_spec("mcp") is None:  # finds the package without importing it
        return Check("mcp", "warn", "the MCP SDK is not installed, so `portctl mcp` cannot run;"
                                    " pip install '.[mcp]' in the port-server clone")
    return Check("mcp", "ok", "MCP SDK installed; `portctl mcp` is ready")


def run_checks(ctx: Context) -> list[Check]:
    checks, info = check_server(ctx)
    checks += [check_data_dir(info), check_pools(ctx, info), check_skill(), check_path(),
               check_mcp()]
    if info is not None:
        from port_server.cli.proxy import doctor_checks

        checks += doctor_checks(ctx)
    return checks


def cmd_doctor(args: argparse.Namespace, ctx: Context) -> int:
    checks = run_checks(ctx)
    if args.json:
        output.as_json([dict(c.__dict__) for c in checks])
    else:
        width = max(len(c.name) for c in checks)
        for c in checks:
            output.emit(f"{c.status:<4}  {c.name:<{width}}  {c.message}")
    return EXIT_ERROR if any(c.status == "fail" for c in checks) else EXIT_OK
