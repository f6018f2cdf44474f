"""portctl allocate | list | release | check: the registry's core verbs."""

from __future__ import annotations

import argparse

from port_server.cli import hosts, metadata, output
from port_server.cli.args import add_filter_args, id_arg, port_arg
from port_server.errors import EXIT_ERROR, EXIT_OK, EXIT_USAGE, InvalidInput
from port_server.models import Allocation, AllocationFilter, AllocationRequest, AllocationResult

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from port_server.cli import Context


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "allocate", help="allocate a port for app/instance/service (idempotent)",
        description="Allocate a host port. Re-running returns the same port. --app defaults to the"
                    " git repository name (folder name outside git), --instance to the"
                    " worktree's folder name (never the branch: a checkout keeps its ports).")
    add_filter_args(p, service_required=True)
    p.add_argument("--port", type=port_arg, help="ask for this exact port (default: auto-assign)")
    p.add_argument("--force", action="store_true",
                   help="register --port even if a running process already has it bound")
    metadata.add_metadata_args(p)
    metadata.add_http_arg(p)
    from port_server.cli.args import add_lease_args

    add_lease_args(p)
    p.add_argument("--json", action="store_true", help="print the allocation as JSON")
    p.set_defaults(func=cmd_allocate)

    p = sub.add_parser("list", help="list allocations (all of them without a filter)",
                       description="List allocations, optionally filtered.")
    add_filter_args(p)
    p.add_argument("--port", type=port_arg, help="only this port")
    hosts.add_list_args(p)
    metadata.add_list_filter_args(p)
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser(
        "release", help="release allocations by port, filter or --id",
        description="Release allocations. Needs a port, --id or at least one filter; never"
                    " releases everything by accident.")
    p.add_argument("port_pos", nargs="?", type=port_arg, metavar="PORT",
                   help="release the allocation holding this port (same as --port)")
    add_filter_args(p)
    p.add_argument("--port", type=port_arg, help="release the allocation holding this port")
    p.add_argument("--id", type=id_arg, dest="alloc_id", help="release this allocation id")
    hosts.add_mutation_args(p)
    p.add_argument("--json", action="store_true", help="print what was released as JSON")
    p.set_defaults(func=cmd_release)

    p = sub.add_parser(
        "check", help="is a port free? exit 0 free, 1 taken (registered or bound)",
        description="Check a port: exit 0 when it is free, 1 when it is registered or bound on"
                    " this machine by any process (and say who holds it).")
    p.add_argument("port_pos", nargs="?", type=port_arg, metavar="PORT", help="the port")
    p.add_argument("--port", type=port_arg, help="the port (same as PORT)")
    p.add_argument("--json", action="store_true", help="print the port status as JSON")
    p.set_defaults(func=cmd_check)


def describe(alloc: Allocation) -> str:
    return f"port {alloc.port} (id={alloc.id}) for {alloc.key}"


def print_result(result: AllocationResult, as_json: bool) -> None:
    if as_json:
        output.as_json({**result.allocation.to_dict(), "created": result.created})
    elif result.created:
        output.emit(f"allocated {describe(result.allocation)}")
    else:
        output.emit(f"already allocated: {describe(result.allocation)}")
    if result.allocation.proxy_url and not as_json:
        output.emit(f"url: {result.allocation.proxy_url}")


def identity_of(args: argparse.Namespace) -> tuple[str, str, str]:
    """(app, instance, service) from the flags; app/instance default to the git identity."""
    from port_server.workflows.identity import detect

    if not args.service:
        raise InvalidInput("--service is required (e.g. --service web)", field="service")
    app, instance = args.app, args.instance
    if app is None or instance is None:
        default_app, default_instance = detect()
        app = app or default_app
        instance = instance or default_instance
    return app, instance, args.service


def worktree_path() -> str:
    """The git worktree portctl runs in, recorded on what it allocates (for ``prune``)."""
    from port_server.workflows.identity import git_worktree

    return git_worktree()


def cmd_allocate(args: argparse.Namespace, ctx: Context) -> int:
    from port_server.cli.args import lease_fields

    app, instance, service = identity_of(args)
    req = AllocationRequest(app=app, instance=instance, service=service, port=args.port,
                            path=worktree_path(),
                            force=args.force, **metadata.metadata_from_args(args),
                            **lease_fields(args))
    print_result(ctx.client.allocate(req), args.json)
    return EXIT_OK


def cmd_list(args: argparse.Namespace, ctx: Context) -> int:
    flt = AllocationFilter(app=args.app, instance=args.instance, service=args.service,
                           port=args.port, host=hosts.host_filter(args),
                           **metadata.filter_from_args(args))
    allocs = ctx.client.list(flt)
    if args.json or args.csv:
        metadata.print_allocations(allocs, as_json=args.json, as_csv=args.csv)
    else:
        headers, rows = hosts.with_host_column(*metadata.list_table(allocs), allocs, args)
        output.table(headers, rows, empty="no allocations")
    return EXIT_OK


def cmd_release(args: argparse.Namespace, ctx: Context) -> int:
    if args.port_pos is not None:
        if args.port not in (None, args.port_pos):
            raise InvalidInput(f"release: PORT {args.port_pos} and --port {args.port} differ;"
                               " give one of them", field="port")
        args.port = args.port_pos
    if args.alloc_id is not None:
        if any(v is not None for v in (args.app, args.instance, args.service, args.port)):
            raise InvalidInput("--id cannot be combined with --app/--instance/--service/--port",
                               field="id")
        alloc = ctx.client.release_id(args.alloc_id, force=args.force)
        released = [alloc] if alloc else []
    else:
        flt = AllocationFilter(app=args.app, instance=args.instance, service=args.service,
                               port=args.port)
        if flt.is_empty():
            output.error("release needs a PORT, --id or at least one of --app, --instance,"
                         " --service, --port (it never releases everything)")
            return EXIT_USAGE
        released = ctx.client.release(flt.replace(host=args.host), force=args.force)
    if args.json:
        output.as_json([a.to_dict() for a in released])
    elif not released:
        output.emit("nothing to release: no allocation matches")
    else:
        for alloc in released:
            output.emit(f"released {describe(alloc)}")
    return EXIT_OK


def cmd_check(args: argparse.Namespace, ctx: Context) -> int:
    port = args.port or args.port_pos
    if port is None:
        raise InvalidInput("give the port to check: portctl check --port 5432", field="port")
    status = ctx.client.check_port(port)
    if args.json:
        data = status.to_dict()
        output.as_json(data)
        return EXIT_OK if status.available else EXIT_ERROR
    for line in check_lines(status):
        output.emit(line)
    return EXIT_OK if status.available else EXIT_ERROR


def check_lines(status: Any) -> list[str]:
    if status.available:
        return [f"port {status.port} is available"]
    lines = []
    for holder in status.holders or ([status.holder] if status.holder else []):
        lines.append(f"port {status.port} is allocated to {holder.key} (id={holder.id},"
                     f" {holder.protocol})")
    if status.in_use:
        who = ", ".join(p.describe() for p in status.processes) or "a process"
        state = "registered and" if status.holder else "not registered, but"
        lines.append(f"port {status.port} is {state} in use on this machine by {who}")
        for proc in status.processes:  # the live side: who exactly (see also `portctl who`)
            if proc.pid is not None and (proc.user or proc.cmdline):
                lines.append(f"  pid {proc.pid}: user {proc.user or '?'}, command"
                             f" {proc.cmdline or '(hidden)'}")
    return lines
