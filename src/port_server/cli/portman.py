"""``portman``: portman's classic command lines on the same registry and client as portctl.

Each portman command maps onto portctl's code paths (see docs/portman.md):
``portman allocate NAME`` records NAME (folded into a valid name) as the service of app
``portman`` (or ``--app``), instance ``default``; ``-p PORT`` registers that port even when a
running service already has it bound (portman's "register existing port" recipe), with a warning.
``scan`` and ``sync`` are dispatched to ``port_server.cli.scan.portman_scan`` and
``port_server.cli.sync.portman_sync`` when those features are installed.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from port_server import __version__
from port_server.cli import ADDR_HELP, EPILOG, _Parser, metadata, output, run_parser
from port_server.errors import EXIT_ERROR, EXIT_OK, InvalidInput, PortInUse
from port_server.models import AllocationFilter, AllocationRequest, registry_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from port_server.cli import Context
    from port_server.client import RegistryClient

PORTMAN_APP = "portman"
PORTMAN_INSTANCE = "default"

#: portman subcommands served by other features: name -> (module, function, the feature, help).
EXTERNAL_COMMANDS = {
    "scan": ("port_server.cli.scan", "portman_scan",
             "scan for conflicts and unregistered ports (-d for details)"),
    "sync": ("port_server.cli.sync", "portman_sync",
             "sync with Dokploy (--dry-run to preview, --nginx for an nginx config)"),
}


def build_parser() -> argparse.ArgumentParser:
    from port_server.cli.args import id_arg, port_arg

    parser = _Parser(
        prog="portman",
        description="portman's short command lines on the port-server registry (the same data"
                    " as portctl).",
        epilog=EPILOG)
    parser.add_argument("--addr", help=ADDR_HELP)
    parser.add_argument("--version", action="version", version=f"portman {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("list", help="list all ports (-c for CSV)",
                       description="List every allocation, ordered by port.")
    p.add_argument("-c", "--csv", action="store_true", help="CSV with a header row")
    for flag, dest in metadata.LIST_FILTERS:  # portman's short flags: -t -o -e -s
        names = (flag,) if dest == "source" else (f"-{flag[2]}", flag)
        p.add_argument(*names, dest=dest, help=f"only this {dest}")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("check", help="check one port: exit 0 free, 1 taken",
                       description="Who holds PORT in the registry and on this machine.")
    p.add_argument("port", type=port_arg, metavar="PORT")
    p.add_argument("--json", action="store_true", help="print the port status as JSON")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("allocate", help="allocate a port for a service (-t type, -p port)",
                       description="Allocate a port for NAME (app `portman`, instance `default`"
                                   " unless --app/--instance). Status defaults to active.")
    p.add_argument("name", metavar="NAME", help="service name (free text is folded: 'My API'"
                                                " -> My-API)")
    p.add_argument("-p", "--port", type=port_arg, help="this exact port (registered even if a"
                                                       " running service has it bound)")
    metadata.add_metadata_args(p, short=True)
    p.add_argument("--app", default=PORTMAN_APP, help="app (default portman)")
    p.add_argument("--instance", default=PORTMAN_INSTANCE, help="instance (default default)")
    p.add_argument("--json", action="store_true", help="print the allocation as JSON")
    p.set_defaults(func=cmd_allocate)

    p = sub.add_parser("release", help="release a port (PORT) or a service (NAME)",
                       description="Release by port number, or by service NAME of app portman"
                                   " (or --app).")
    p.add_argument("target", metavar="PORT|NAME", help="a port number or a service name")
    p.add_argument("--app", help="app of NAME (default portman)")
    p.add_argument("--instance", help="instance of NAME (default: any)")
    p.add_argument("--json", action="store_true", help="print what was released as JSON")
    p.set_defaults(func=cmd_release)

    p = sub.add_parser("update", help="update a port's status and metadata",
                       description="portman update PORT [STATUS] [-n NOTE] [-o OWNER] ...; the"
                                   " port and id do not change.")
    p.add_argument("port", type=port_arg, metavar="PORT")
    p.add_argument("new_status", nargs="?", metavar="STATUS",
                   help="new status: active, inactive, needs_pairing, ...")
    metadata.add_metadata_args(p, short=True)
    p.add_argument("--id", type=id_arg, dest="alloc_id", help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="print the allocation as JSON")
    p.set_defaults(func=cmd_update)

    p = sub.add_parser("suggest", help="suggest free ports of a type without allocating",
                       description="The next free port(s) of a service type's pool.")
    p.add_argument("-t", "--type", default="default", help="service type (pool)")
    p.add_argument("--count", type=int, default=1, help="how many (default 1)")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.set_defaults(func=metadata.cmd_suggest)

    p = sub.add_parser("pools", help="port ranges per service type, used and free")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.set_defaults(func=metadata.cmd_pools)

    for name, (_, _, help_text) in EXTERNAL_COMMANDS.items():
        # prefix_chars="+": every argument (-d, --dry-run, --help) goes to the feature as is.
        p = sub.add_parser(name, help=help_text, add_help=False, prefix_chars="+")
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(func=cmd_external, external=name)
    return parser


def cmd_list(args: argparse.Namespace, ctx: Context) -> int:
    allocs = ctx.client.list(AllocationFilter(**metadata.filter_from_args(args)))
    allocs.sort(key=lambda a: (a.port, a.protocol))
    metadata.print_allocations(allocs, as_json=args.json, as_csv=args.csv)
    return EXIT_OK


def cmd_check(args: argparse.Namespace, ctx: Context) -> int:
    from port_server.cli.allocations import check_lines

    status = ctx.client.check_port(args.port)
    if args.json:
        output.as_json(status.to_dict())
    else:
        for line in check_lines(status):
            output.emit(line)
        for holder in status.holders:
            meta = [f"{k} {v}" for k in ("type", "environment", "status", "owner", "url",
                                         "note") if (v := getattr(holder, k))]
            if meta:
                output.emit(f"  {holder.service}: {', '.join(meta)}")
    return EXIT_OK if status.available else EXIT_ERROR


def cmd_allocate(args: argparse.Namespace, ctx: Context) -> int:
    from port_server.cli.allocations import print_result

    meta = metadata.metadata_from_args(args)
    meta.setdefault("status", "active")
    req = AllocationRequest(app=args.app, instance=args.instance,
                            service=registry_name(args.name), port=args.port, **meta)
    try:
        result = ctx.client.allocate(req)
    except PortInUse as exc:
        # `portman allocate NAME -p PORT` is how a running service gets registered.
        output.warn(f"{exc.message.split(';')[0]}; registering it for {req.service} anyway")
        result = ctx.client.allocate(AllocationRequest(**{**req.__dict__, "force": True}))
    print_result(result, args.json)
    return EXIT_OK


def cmd_release(args: argparse.Namespace, ctx: Context) -> int:
    from port_server.cli.allocations import describe

    target = args.target.strip()
    if target.isdigit():
        if args.app or args.instance:
            raise InvalidInput("release PORT takes no --app/--instance; give a NAME instead",
                               field="target")
        flt = AllocationFilter(port=int(target))
    else:
        flt = AllocationFilter(app=args.app or PORTMAN_APP, instance=args.instance,
                               service=registry_name(target))
    released = ctx.client.release(flt)
    if args.json:
        output.as_json([a.to_dict() for a in released])
    elif not released:
        output.emit(f"nothing to release: no allocation matches {target!r}")
        return EXIT_ERROR
    else:
        for alloc in released:
            output.emit(f"released {describe(alloc)}")
    return EXIT_OK


def cmd_update(args: argparse.Namespace, ctx: Context) -> int:
    changes = metadata.metadata_from_args(args)
    if args.new_status is not None:
        if changes.get("status", args.new_status) != args.new_status:
            raise InvalidInput(f"status given twice ({args.new_status!r} and"
                               f" {changes['status']!r}); give one", field="status")
        changes["status"] = args.new_status
    alloc = metadata.update_allocation(ctx, None if args.alloc_id else args.port, args.alloc_id,
                                       changes)
    if args.json:
        output.as_json(alloc.to_dict())
    else:
        said = ", ".join(f"{k}={v!r}" for k, v in changes.items())
        output.emit(f"updated port {alloc.port} ({alloc.service}): {said}")
    return EXIT_OK


def cmd_external(args: argparse.Namespace, ctx: Context) -> int:
    """Hand the rest of the command line to the module that owns the command, imported only
    when it runs (start-up time)."""
    module_name, func_name, _ = EXTERNAL_COMMANDS[args.external]
    func = getattr(importlib.import_module(module_name), func_name)
    return int(func(list(args.rest), ctx) or 0)


def main(argv: Sequence[str] | None = None, client: RegistryClient | None = None) -> int:
    return run_parser(build_parser(), argv, client)


if __name__ == "__main__":
    sys.exit(main())
