"""portctl down | prune: give back a checkout's ports, and those of removed worktrees."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from port_server.cli import output
from port_server.errors import EXIT_ERROR, EXIT_OK

if TYPE_CHECKING:
    from port_server.cli import Context


def register(sub: argparse._SubParsersAction[Any]) -> None:
    from port_server.cli.project import identity_args

    p = sub.add_parser(
        "down", help="release a project checkout's allocations (the reverse of up)",
        description="Release every allocation of the project in DIR (app/instance from its git"
                    " checkout, as `up` names them). Files are left as they are: `docker compose"
                    " down` still finds the stack.")
    p.add_argument("dir", nargs="?", default=".", metavar="DIR", help="project directory")
    identity_args(p)
    p.add_argument("--dry-run", action="store_true", help="list what would be released")
    p.add_argument("--json", action="store_true", help="print the allocations as JSON")
    p.set_defaults(func=cmd_down)

    p = sub.add_parser(
        "prune", help="release allocations of worktrees that are gone",
        description="Release every allocation whose recorded worktree (the path `up` records)"
                    " no longer exists or is no longer a worktree of its repository. With"
                    " --orphans, also list processes still listening on such ports (the live"
                    " scan's `orphan` state); with --kill, stop those that are yours (TERM, then"
                    " KILL after --timeout seconds).",
        epilog="After `git worktree remove ../shop-feature`: portctl prune")
    p.add_argument("--dry-run", action="store_true", help="list what would happen, change"
                                                          " nothing")
    p.add_argument("--orphans", action="store_true",
                   help="also list orphan processes on registered ports")
    p.add_argument("--kill", action="store_true",
                   help="with --orphans: stop the orphan processes that are yours")
    p.add_argument("--timeout", type=float, default=5.0, metavar="S",
                   help="seconds between TERM and KILL (default 5)")
    p.add_argument("--json", action="store_true", help="print what was done as JSON")
    p.set_defaults(func=cmd_prune)


def cmd_down(args: argparse.Namespace, ctx: Context) -> int:
    from port_server.cli.project import identity
    from port_server.workflows.project import project_dir
    from port_server.workflows.prune import down

    folder = project_dir(args.dir)
    app, instance = identity(args, folder.resolve())
    released = down(ctx.client, app, instance, dry_run=args.dry_run)
    if args.json:
        output.as_json([a.to_dict() for a in released])
        return EXIT_OK
    if not released:
        output.emit(f"nothing to release: {app}/{instance} holds no ports")
    verb = "would release" if args.dry_run else "released"
    for alloc in released:
        output.emit(f"{verb} {alloc.port}/{alloc.protocol} {alloc.key} (id={alloc.id})")
    return EXIT_OK


def cmd_prune(args: argparse.Namespace, ctx: Context) -> int:
    from port_server.errors import InvalidInput
    from port_server.workflows.prune import PruneOutcome, orphans, release_stale

    if args.kill and not args.orphans:
        raise InvalidInput("--kill needs --orphans (portctl prune --orphans --kill)",
                           field="kill")
    if args.kill and args.dry_run:
        raise InvalidInput("--kill and --dry-run contradict each other; drop one",
                           field="kill")
    if not args.timeout > 0:
        raise InvalidInput("--timeout must be more than 0 seconds", field="timeout")
    outcome = PruneOutcome()
    if args.orphans:  # before releasing: the scan finds orphans through their allocations
        report = ctx.client.scan(state="orphan", details=True)
        orphans(list(report.rows), outcome, kill=args.kill, timeout=args.timeout)
    release_stale(ctx.client, outcome, args.dry_run)
    if args.json:
        output.as_json(outcome.to_dict())
    else:
        _present(outcome, args.dry_run, args.orphans)
    return EXIT_ERROR if outcome.failed else EXIT_OK


def _present(outcome: Any, dry_run: bool, with_orphans: bool) -> None:
    verb = "would release" if dry_run else "released"
    for item in outcome.orphans:
        output.emit(f"orphan {item['port']}/{item['protocol']} pid {item['pid']}"
                    f" ({item['name'] or '?'}): {item['action']}; {item['reason']}")
    if with_orphans and not outcome.orphans:
        output.emit("no orphan processes")
    for item in outcome.released:
        output.emit(f"{verb} {item['port']} {item['key']} (id={item['id']}): {item['reason']}")
    for item in outcome.failed:
        output.warn(f"could not release {item['port']} {item['key']} (id={item['id']}):"
                    f" {item['error']}")
    if not outcome.released and not outcome.failed:
        output.emit("nothing to prune: every recorded worktree is still there")
