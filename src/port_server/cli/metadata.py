"""portman's registry metadata in portctl: ``update``, ``suggest``, ``pools``, and the metadata
flags, filters and columns that ``allocate`` and ``list`` share with them."""

from __future__ import annotations

import argparse

from port_server.cli import hosts, output
from port_server.errors import EXIT_OK, InvalidInput, NotFound
from port_server.models import Allocation, AllocationFilter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from port_server.cli import Context
    from port_server.client import RegistryClient

#: (flag, Allocation field, column heading, help) for every metadata field, in display order.
METADATA_FLAGS: tuple[tuple[str, str, str, str], ...] = (
    ("--type", "type", "TYPE", "service type = pool (web, db, api, ml, monitoring, dynamic, or"
                               " one from the config); 'auto' guesses it from the service name"),
    ("--owner", "owner", "OWNER", "who owns it (a person or team)"),
    ("--env", "environment", "ENV", "environment: production, staging, development, ..."),
    ("--status", "status", "STATUS", "status: active, inactive, needs_pairing, or any short word"),
    ("--url", "url", "URL", "where the service answers (e.g. https://app.example.com)"),
    ("--note", "note", "NOTE", "free text"),
)

#: list filters beyond app/instance/service/port: (flag, AllocationFilter field).
LIST_FILTERS = (("--type", "type"), ("--owner", "owner"), ("--env", "environment"),
                ("--status", "status"), ("--source", "source"))


def add_metadata_args(p: argparse.ArgumentParser, short: bool = False) -> None:
    """The metadata flags; ``short`` also gives portman's -t -o -e -s -u -n."""
    for flag, dest, _, help_text in METADATA_FLAGS:
        names = [flag, f"-{flag[2]}"] if short else [flag]
        p.add_argument(*names, dest=dest, metavar=dest.upper(), help=help_text)


def metadata_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The metadata flags the user gave ("" clears a field on update), and --http/--no-http."""
    fields = {dest: value for _, dest, _, _ in METADATA_FLAGS
              if (value := getattr(args, dest, None)) is not None}
    if getattr(args, "http", None) is not None:
        fields["http"] = args.http
    return fields


def add_http_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--http", action=argparse.BooleanOptionalAction, default=None,
                   help="an HTTP service: the proxy names it https://SERVICE.INSTANCE.APP"
                        ".localhost (default: yes for the web, api and monitoring pools)")


def add_list_filter_args(p: argparse.ArgumentParser) -> None:
    for flag, dest in LIST_FILTERS:
        p.add_argument(flag, dest=dest, metavar=dest.upper(), help=f"only this {dest}")
    p.add_argument("--csv", action="store_true",
                   help="print RFC 4180 CSV with every field (safe to open in a spreadsheet)")


def filter_from_args(args: argparse.Namespace) -> dict[str, Any]:
    return {dest: getattr(args, dest, None) for _, dest in LIST_FILTERS}


def list_table(allocs: list[Allocation]) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """Headers and rows for ``list``: metadata columns appear only when some row has a value."""
    shown = [(dest, head) for _, dest, head, _ in METADATA_FLAGS
             if any(getattr(a, dest) for a in allocs)]
    proto = any(a.protocol != "tcp" for a in allocs)
    path = any(a.path for a in allocs)
    named = any(a.proxy_url for a in allocs)
    headers = ("ID", "PORT", *(("PROTO",) if proto else ()), "APP", "INSTANCE", "SERVICE",
               *(h for _, h in shown), *(("PATH",) if path else ()),
               *(("PROXY URL",) if named else ()), "CREATED")
    rows = [(a.id, a.port, *((a.protocol,) if proto else ()), a.app, a.instance, a.service,
             *(getattr(a, d) for d, _ in shown), *((a.path,) if path else ()),
             *((a.proxy_url,) if named else ()),
             a.created_at[:19].replace("T", " "))
            for a in allocs]
    return headers, rows


def print_allocations(allocs: list[Allocation], as_json: bool = False,
                      as_csv: bool = False) -> None:
    if as_csv:
        from port_server.exporters.csv_table import to_csv

        output.raw(to_csv(allocs))
    elif as_json:
        output.as_json([a.to_dict() for a in allocs])
    else:
        headers, rows = list_table(allocs)
        output.table(headers, rows, empty="no allocations")


def find_by_port(client: RegistryClient, port: int, host: str | None = None) -> Allocation:
    """The one allocation holding ``port`` (on ``host``, default the server's own); a clear
    error when none or several do."""
    holders = client.list(AllocationFilter(port=port, host=host))
    if not holders:
        raise NotFound(f"no allocation holds port {port}; see `portctl list`")
    if len(holders) > 1:
        ids = ", ".join(f"{h.id} ({h.protocol}, {h.key})" for h in holders)
        raise InvalidInput(f"port {port} has several allocations: {ids}; choose one with --id",
                           field="port")
    return holders[0]


def register(sub: argparse._SubParsersAction[Any]) -> None:
    from port_server.cli.args import id_arg, port_arg

    p = sub.add_parser(
        "update", help="change an allocation's metadata (type, owner, env, status, url, note)",
        description="Change metadata without changing the port or the id. Give the port or"
                    " --id; an empty value (--note '') clears a field.")
    p.add_argument("port", nargs="?", type=port_arg, metavar="PORT",
                   help="the port of the allocation")
    p.add_argument("--id", type=id_arg, dest="alloc_id", help="the allocation id")
    add_metadata_args(p)
    add_http_arg(p)
    hosts.add_mutation_args(p)
    p.add_argument("--json", action="store_true", help="print the updated allocation as JSON")
    p.set_defaults(func=cmd_update)

    p = sub.add_parser("suggest", help="the next free port(s) of a pool, without allocating",
                       description="Print the port(s) auto-assign would hand out next.")
    p.add_argument("--type", default="default", help="pool name (default: default)")
    p.add_argument("--count", type=int, default=1, help="how many ports (1-1000, default 1)")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.set_defaults(func=cmd_suggest)

    p = sub.add_parser("pools", help="list pools: range, ports used and free",
                       description="List the pools auto-assign draws from, with their usage.")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.set_defaults(func=cmd_pools)


def update_allocation(ctx: Context, port: int | None, alloc_id: int | None,
                      changes: dict[str, Any], host: str | None = None,
                      force: bool = False) -> Allocation:
    if not changes:
        raise InvalidInput("nothing to update; give at least one of --type --owner --env"
                           " --status --url --note --http/--no-http", field="changes")
    if (port is None) == (alloc_id is None):
        raise InvalidInput("give the PORT or --id of the allocation to update (not both)",
                           field="port")
    if alloc_id is None:
        assert port is not None
        alloc_id = find_by_port(ctx.client, port, host).id
    return ctx.client.update(alloc_id, changes, force=force)


def cmd_update(args: argparse.Namespace, ctx: Context) -> int:
    alloc = update_allocation(ctx, args.port, args.alloc_id, metadata_from_args(args),
                              host=args.host, force=args.force)
    if args.json:
        output.as_json(alloc.to_dict())
    else:
        changed = ", ".join(f"{k}={v!r}" for k, v in metadata_from_args(args).items())
        output.emit(f"updated port {alloc.port} (id={alloc.id}) for {alloc.key}: {changed}")
    return EXIT_OK


def cmd_suggest(args: argparse.Namespace, ctx: Context) -> int:
    ports = ctx.client.suggest(args.type, args.count)
    if args.json:
        output.as_json(ports)
    else:
        for port in ports:
            output.emit(str(port))
    return EXIT_OK


def cmd_pools(args: argparse.Namespace, ctx: Context) -> int:
    pools = ctx.client.pools()
    if args.json:
        output.as_json(pools)
    else:
        output.table(("POOL", "RANGE", "SIZE", "USED", "FREE"),
                     [(p["name"], f"{p['lo']}-{p['hi']}", p["size"], p["used"], p["free"])
                      for p in pools])
    return EXIT_OK
