"""portctl up: argument parsing and presentation; the work is ``workflows.up``."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from port_server.cli import output
from port_server.errors import EXIT_ERROR, EXIT_OK
from port_server.safe_write import FOLLOW_HELP

if TYPE_CHECKING:
    from port_server.cli import Context


def register(sub: argparse._SubParsersAction[Any]) -> None:
    from port_server.cli.project import identity_args

    p = sub.add_parser(
        "up", help="allocate ports for a compose project and write them to .env",
        description="For the compose file(s) in DIR: allocate every service that publishes a"
                    " port (idempotent, recorded with this worktree's path) and write one .env"
                    " variable per port: the one the compose file references, else"
                    " SERVICE_PORT. Literal host ports (\"5432:5432\") move through a generated"
                    " override file (compose.override.yaml, or compose.portctl.yaml listed in"
                    " COMPOSE_FILE); tracked files are never edited. Also writes a per-worktree"
                    " COMPOSE_PROJECT_NAME when none is set, and the [env] derived values."
                    " Dev-server files at the top of DIR and in config/ and .devcontainer/"
                    " (Procfile, vite config, justfile, mise, Taskfile, Tiltfile, puma, Spring,"
                    " dev containers) count too: a port they read from a .env variable moves"
                    " the same way, a literal one is registered as written.",
        epilog="The reverse: portctl down DIR; after `git worktree remove`: portctl prune.")
    p.add_argument("dir", nargs="?", default=".", metavar="DIR", help="project directory")
    p.add_argument("--service", action="append", default=[], metavar="NAME",
                   help="only this compose service (repeatable)")
    identity_args(p)
    p.add_argument("--env-file", metavar="FILE", help="the .env to write (default: DIR/.env)")
    p.add_argument("--json", action="store_true", help="print the outcome per port as JSON")
    p.add_argument("--follow-symlinks", action="store_true", help=FOLLOW_HELP)
    p.set_defaults(func=cmd_up)


def cmd_up(args: argparse.Namespace, ctx: Context) -> int:
    from port_server.cli.project import identity
    from port_server.workflows.project import env_update_lines, project_dir, project_path
    from port_server.workflows.up import up

    folder = project_dir(args.dir)
    app, instance = identity(args, folder.resolve())
    env_path = project_path(args.env_file) if args.env_file else None
    result = up(ctx.client, folder, app, instance, args.service, env_path,
                follow_symlinks=args.follow_symlinks)
    stream = sys.stderr if args.json else None
    if result.env_update is not None:
        for line in env_update_lines(result.env_path, result.env_values, result.env_update):
            output.emit(line, stream)
    if result.override is not None:
        output.emit(f"wrote {result.override} (literal host ports now come from .env)", stream)
    for line in result.warnings:
        output.warn(line)
    if args.json:
        output.as_json(result.outcomes)
    else:
        for o in result.outcomes:
            where = f" {o['variable']}={o['port']}" if o["variable"] else f" {o['port']}"
            url = f" {o['proxy_url']}" if o.get("proxy_url") else ""
            output.emit(f"{o['status']}: {o['service']}{where}{o['detail']}{url}")
        if not result.outcomes:
            output.emit("no service publishes a host port")
    return EXIT_ERROR if result.conflicts else EXIT_OK
