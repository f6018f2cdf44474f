"""portctl renew | gc | log | whoami, and the lease/protection flags of allocate and release."""

from __future__ import annotations

import argparse

from port_server.cli import output
from port_server.errors import EXIT_OK, InvalidInput
from port_server.models import AUDIT_ACTIONS, Allocation, AllocationFilter, AuditFilter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from port_server.cli import Context


def register(sub: argparse._SubParsersAction[Any]) -> None:
    from port_server.cli.args import add_filter_args, duration_arg, id_arg, port_arg

    p = sub.add_parser("renew", help="extend a lease: expire --ttl from now",
                       description="Set the expiry of allocations to now + --ttl (gives a lease"
                                   " to an allocation that had none). Select by --id or filter.")
    add_filter_args(p)
    p.add_argument("--port", type=port_arg, help="the allocation holding this port")
    p.add_argument("--id", type=id_arg, dest="alloc_id", help="this allocation id")
    p.add_argument("--ttl", type=duration_arg, required=True, help="new lease length (e.g. 2h)")
    p.add_argument("--json", action="store_true", help="print the renewed allocations as JSON")
    p.set_defaults(func=cmd_renew)

    p = sub.add_parser("gc", help="release expired and dead-process leases now",
                       description="Reclaim allocations whose --ttl expired or whose --pid"
                                   " process exited (the server also does this on its own)."
                                   " Protected and lease-less allocations are never touched.")
    p.add_argument("--dry-run", action="store_true", help="only show what would be released")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_gc)

    p = sub.add_parser("log", help="the audit log: who allocated, released, changed what",
                       description="Show recorded mutations, oldest first.")
    p.add_argument("--app", help="only this application")
    p.add_argument("--port", type=port_arg, help="only this port")
    p.add_argument("--action", choices=AUDIT_ACTIONS, help="only this action")
    p.add_argument("--since", help="only entries since an ISO time or a duration ago (2h, 7d)")
    p.add_argument("--limit", type=int, default=200, help="at most this many (newest; 200)")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.set_defaults(func=cmd_log)

    p = sub.add_parser("whoami", help="who the server thinks you are (kernel uid, admin)")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=cmd_whoami)


def _selected(args: argparse.Namespace, ctx: Context) -> list[Allocation]:
    if args.alloc_id is not None:
        return [ctx.client.get(args.alloc_id)]
    flt = AllocationFilter(app=args.app, instance=args.instance, service=args.service,
                           port=args.port)
    if flt.is_empty():
        raise InvalidInput("give --id or at least one of --app, --instance, --service, --port",
                           field="id")
    return ctx.client.list(flt)


def cmd_renew(args: argparse.Namespace, ctx: Context) -> int:
    renewed = [ctx.client.renew(a.id, args.ttl) for a in _selected(args, ctx)]
    if args.json:
        output.as_json([a.to_dict() for a in renewed])
    elif not renewed:
        output.emit("nothing to renew: no allocation matches")
    for alloc in [] if args.json else renewed:
        output.emit(f"renewed port {alloc.port} (id={alloc.id}) for {alloc.key} until"
                    f" {alloc.expires_at}")
    return EXIT_OK


def cmd_gc(args: argparse.Namespace, ctx: Context) -> int:
    reclaimed = ctx.client.gc(dry_run=args.dry_run)
    if args.json:
        output.as_json({"dry_run": args.dry_run, "reclaimed": [
            {"allocation": a.to_dict(), "reason": r} for a, r in reclaimed]})
        return EXIT_OK
    verb = "would release" if args.dry_run else "released"
    for alloc, reason in reclaimed:
        output.emit(f"{verb} port {alloc.port} (id={alloc.id}) for {alloc.key}: {reason}")
    if not reclaimed:
        output.emit("nothing to reclaim: no expired or dead-process leases")
    return EXIT_OK


LOG_HEADERS = ("TIME", "ACTOR", "ACTION", "PORT", "ALLOCATION", "DETAIL")


def cmd_log(args: argparse.Namespace, ctx: Context) -> int:
    flt = AuditFilter(app=args.app, port=args.port, action=args.action, limit=args.limit)
    entries = ctx.client.log(flt, since=args.since)
    if args.json:
        output.as_json([e.to_dict() for e in entries])
        return EXIT_OK
    rows = []
    for e in entries:
        detail = e.reason
        if e.action in ("update", "renew") and e.before and e.after:
            detail = ", ".join(f"{k}: {e.before.get(k)!r} -> {v!r}" for k, v in e.after.items()
                               if e.before.get(k) != v and k != "updated_at")
        rows.append((e.time[:19].replace("T", " "), e.actor, e.action, e.port or "",
                     f"{e.app}/{e.instance}/{e.service} (id={e.alloc_id})", detail))
    output.table(LOG_HEADERS, rows, empty="no audit entries")
    return EXIT_OK


def cmd_whoami(args: argparse.Namespace, ctx: Context) -> int:
    data = ctx.client.whoami()
    if args.json:
        output.as_json(data)
    else:
        uid = f" (uid {data['uid']})" if data.get("uid") is not None else ""
        admin = ", admin" if data.get("admin") else ""
        output.emit(f"{data.get('name')}{uid} via {data.get('via')}{admin}")
    return EXIT_OK
