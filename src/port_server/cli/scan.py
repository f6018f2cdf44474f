"""portctl scan | who | adopt: what really listens, who holds it, and where it disagrees.

The scan itself runs in the server (GET /v1/scan); these commands only render it, and ``adopt``
registers what ``scan`` calls unregistered through the ordinary allocate call.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from port_server.cli import output
from port_server.cli.args import port_arg
from port_server.errors import EXIT_ERROR, EXIT_OK, PortServerError
from port_server.models import (
    SCAN_STATES,
    AllocationRequest,
    Listener,
    ScanReport,
    ScanRow,
)

if TYPE_CHECKING:
    from port_server.cli import Context

CMDLINE_WIDTH = 60
HIDDEN_HINT = ("some processes are hidden from this user (their pid, name and command);"
               " run as root (sudo) to see every holder")


def add_scan_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state", help=f"only these states, comma-separated: {', '.join(SCAN_STATES)}")
    p.add_argument("--app", help="only ports registered to this app")
    p.add_argument("--port-range", metavar="LO-HI", help="only ports in this range, e.g. 3000-3999")
    p.add_argument("-d", "--details", action="store_true",
                   help="pid, process, user, command line, bind address, docker container")
    p.add_argument("--json", action="store_true", help="print the scan report as JSON")


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "scan", help="live scan: what listens vs the registry; exit 1 on a conflict",
        description="Every listening TCP and bound UDP socket (IPv4 and IPv6) joined with the"
                    " registry, one row per port and protocol: ok (registered, listening), down"
                    " (registered, nothing listens), unregistered (listening, not registered),"
                    " conflict (the listener is not the recorded pid/command, or the port is"
                    " registered twice in a colliding way), orphan (still listening, but the"
                    " holder's process has exited or its worktree is gone). Exit 1 when a"
                    " conflict is shown.")
    add_scan_args(p)
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser(
        "who", help="who holds PORT: allocation and listening process (exit 1 if taken)",
        description="The registry's and the machine's side of one port, with process details"
                    " (check with details). Exit 0 when nothing holds it, 1 otherwise.")
    p.add_argument("port", type=port_arg, metavar="PORT", help="the port")
    p.add_argument("--json", action="store_true", help="print the scan report as JSON")
    p.set_defaults(func=cmd_who)

    p = sub.add_parser(
        "adopt", help="register the listening ports scan calls unregistered",
        description="Register unregistered listeners, asking for each (or all with --yes)."
                    " Names come from the process: compose project/service for containers,"
                    " the process name otherwise; the pid and command are recorded.")
    p.add_argument("--yes", "-y", action="store_true", help="adopt all without asking")
    p.add_argument("--dry-run", action="store_true", help="only show what would be registered")
    p.add_argument("--instance", default="default",
                   help="instance for the new allocations (default: default)")
    p.add_argument("--port-range", metavar="LO-HI", help="only ports in this range")
    p.add_argument("--json", action="store_true", help="print what was registered as JSON")
    p.set_defaults(func=cmd_adopt)


# -- scan --------------------------------------------------------------------------------------

def registered_to(row: ScanRow) -> str:
    return ", ".join(f"{a.key} (id={a.id})" for a in row.allocations)


def _process(lst: Listener) -> tuple[str, str, str, str]:
    """(pid, process, user, command) cells, marking what the kernel hid."""
    pid = str(lst.pid) if lst.pid is not None else ("hidden" if "pid" in lst.hidden else "-")
    name = lst.name or ("hidden" if "name" in lst.hidden else "")
    cmd = short_command(lst.cmdline) or ("(hidden)" if "cmdline" in lst.hidden else "")
    return pid, name, lst.user, output.shorten(cmd, CMDLINE_WIDTH)


def short_command(cmdline: str) -> str:
    """A command line for a table cell: long paths cut to their last part, so the script and
    its arguments stay visible (the full line is in --json and `portctl who`)."""
    words = cmdline.split(" ")
    return " ".join(w.rsplit("/", 1)[-1] if i == 0 or (w.startswith("/") and len(w) > 24)
                    else w for i, w in enumerate(words))


def container_text(lst: Listener) -> str:
    c = lst.container
    if c is None:
        return ""
    parts = [c.name] + ([f"project {c.compose_project}"] if c.compose_project else []) + (
        [f"service {c.compose_service}"] if c.compose_service else [])
    return " ".join(parts)


def scan_table(rows: Sequence[ScanRow], details: bool) -> None:
    if not details:
        output.table(("PORT", "PROTO", "STATE", "REGISTERED TO", "LISTENING ON"),
                     [(r.port, r.protocol, r.state, registered_to(r),
                       ", ".join(sorted({lst.address for lst in r.listeners})))
                      for r in rows], empty="nothing to show")
        return
    cells = []
    for r in rows:
        for i, lst in enumerate(r.listeners or (None,)):
            first = (r.port, r.protocol, r.state, registered_to(r)) if i == 0 else ("",) * 4
            if lst is None:
                cells.append((*first, "", "", "", "", "", ""))
            else:
                cells.append((*first, lst.address, *_process(lst), container_text(lst)))
    output.table(("PORT", "PROTO", "STATE", "REGISTERED TO", "ADDRESS", "PID", "PROCESS", "USER",
                  "COMMAND", "CONTAINER"), cells, empty="nothing to show")


def summary(report: ScanReport) -> str:
    counts = report.counts()
    total = sum(counts.values())
    return f"{total} port{'s' if total != 1 else ''}: " + ", ".join(
        f"{n} {state}" for state, n in counts.items())


def render_scan(report: ScanReport) -> int:
    """Print a report; exit 1 when it shows a conflict (for CI and git hooks), else 0."""
    conflict = any(r.state == "conflict" for r in report.rows)
    scan_table(report.rows, report.details)
    for row in report.rows:
        if row.state == "conflict":
            output.emit(f"conflict on {row.port}/{row.protocol}: {row.reason}")
        elif row.state == "orphan":
            output.emit(f"orphan on {row.port}/{row.protocol}: {row.reason} (`portctl prune"
                        " --orphans --kill` stops it)")
    output.emit(summary(report))
    if report.hidden:
        output.warn(HIDDEN_HINT)
    if report.details and report.docker.startswith("unavailable"):
        output.warn(f"docker {report.docker}; container names are not shown")
    return EXIT_ERROR if conflict else EXIT_OK


def cmd_scan(args: argparse.Namespace, ctx: Context) -> int:
    data = ctx.client.scan_json(state=args.state, app=args.app, port_range=args.port_range,
                                details=args.details)
    if args.json:  # printed as received: 1,000 rows need no decoding round trip
        output.as_json(data)
        return EXIT_ERROR if data["counts"].get("conflict") else EXIT_OK
    return render_scan(ScanReport.from_dict(data))


def portman_scan(args_list: list[str], ctx: Context) -> int:
    """``portman scan [-d] [--json] ...``: portman's conflict scan, the same as portctl scan."""
    from port_server.cli import _Parser

    p = _Parser(prog="portman scan", description="Scan for port conflicts and unregistered"
                                                 " listeners (-d: process details).")
    add_scan_args(p)
    return cmd_scan(p.parse_args(args_list), ctx)


# -- who ---------------------------------------------------------------------------------------

def who_lines(port: int, rows: Sequence[ScanRow]) -> list[str]:
    if not rows:
        return [f"port {port} is available: not registered and nothing listens"]
    lines = []
    for row in rows:
        lines.append(f"port {row.port}/{row.protocol}: {row.state}"
                     + (f" ({row.reason})" if row.reason else ""))
        for a in row.allocations:
            extra = "".join(f", {k} {v}" for k, v in (("pid", a.pid), ("command", a.command))
                            if v)
            lines.append(f"  allocated to {a.key} (id={a.id}, source {a.source}{extra})")
        for lst in row.listeners:
            pid, name, user, _ = _process(lst)
            cmd = output.one_line(lst.cmdline) or ("(hidden)" if "cmdline" in lst.hidden else "")
            who = f"pid {pid} ({name or '?'})" if lst.pid is not None else lst.describe()
            lines.append(f"  listening on {lst.address} by {who}"
                         + (f", user {user}" if user else "") + (f": {cmd}" if cmd else ""))
            if lst.container is not None:
                c = lst.container
                lines.append(f"    docker container {c.name}"
                             + (f", compose project {c.compose_project}" if c.compose_project
                                else "")
                             + (f", service {c.compose_service}" if c.compose_service else "")
                             + (f", container port {c.container_port}" if c.container_port
                                else ""))
    return lines


def cmd_who(args: argparse.Namespace, ctx: Context) -> int:
    report = ctx.client.scan(port_range=f"{args.port}-{args.port}", details=True)
    if args.json:
        output.as_json(report.to_dict())
    else:
        for line in who_lines(args.port, report.rows):
            output.emit(line)
        if report.hidden:
            output.warn(HIDDEN_HINT)
    return EXIT_ERROR if report.rows else EXIT_OK


# -- adopt -------------------------------------------------------------------------------------

def describe_request(req: AllocationRequest, row: ScanRow) -> str:
    holder = row.listeners[0].describe() if row.listeners else "?"
    return f"{req.port}/{req.protocol} held by {holder} as {req.app}/{req.instance}/{req.service}"


def cmd_adopt(args: argparse.Namespace, ctx: Context) -> int:
    from port_server.models import registry_name
    from port_server.workflows.adopt import adopt, proposals

    instance = registry_name(args.instance)
    report = ctx.client.scan(state="unregistered", port_range=args.port_range, details=True)
    rows = list(report.rows)
    reqs = proposals(rows, instance)
    adopted: list[dict[str, Any]] = []
    failed = 0
    ask = not (args.yes or args.dry_run)
    for row, req in zip(rows, reqs, strict=True):
        text = describe_request(req, row)
        if args.dry_run:
            output.emit(f"would adopt {text}")
            continue
        if ask:
            answer = output.ask(f"adopt {text}? [y]es/[n]o/[a]ll/[q]uit: ")
            if answer is None or answer.lower() in ("q", "quit"):
                break
            if answer.lower() in ("a", "all"):
                ask = False
            elif answer.lower() not in ("y", "yes"):
                continue
        try:
            alloc = adopt(ctx.client, req)
        except PortServerError as exc:
            output.error(f"{req.port}/{req.protocol}: {exc.message}")
            failed += 1
            continue
        adopted.append(alloc.to_dict())
        if not args.json:
            output.emit(f"adopted port {alloc.port}/{alloc.protocol} (id={alloc.id}) as"
                        f" {alloc.key}" + (f", pid {alloc.pid}" if alloc.pid else ""))
    if args.json:
        output.as_json(adopted)
    elif not rows:
        output.emit("nothing to adopt: every listening port is registered")
    if report.hidden:
        output.warn(HIDDEN_HINT)
    return EXIT_ERROR if failed else EXIT_OK
