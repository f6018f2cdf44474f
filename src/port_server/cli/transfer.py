"""portctl export | import: the whole registry as JSON, CSV or portman's registry file.

Import goes through the server (``POST /v1/import``), which applies every entry or none.
"""

from __future__ import annotations

import argparse
import sys

from port_server.cli import output
from port_server.errors import EXIT_ERROR, EXIT_OK, ImportConflict, InvalidInput
from port_server.safe_write import FOLLOW_HELP

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from port_server.cli import Context
    from port_server.import_plan import ImportReport
    from port_server.models import Allocation

EXPORT_FORMATS = ("json", "csv", "portman")


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "export", help="write the whole registry as json, csv or portman's registry format",
        description="Write every allocation. json: portctl's own format (import reads it back);"
                    " csv: RFC 4180 with a header row; portman: portman's port_registry.json.")
    p.add_argument("--format", choices=EXPORT_FORMATS, default="json",
                   help="output format (default json)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p.add_argument("--follow-symlinks", action="store_true", help=FOLLOW_HELP)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "import", help="register allocations from a portman registry file or a portctl export",
        description="Read portman's registry file ({\"allocations\": {\"3000\": {...}}}) or"
                    " `portctl export` JSON and register its entries, all or none. Reports what"
                    " was added, what already matched and what conflicts; on a conflict nothing"
                    " changes unless --force (then the file wins). Ports bound on this machine"
                    " are registered anyway: the file records services that already run.")
    p.add_argument("file", metavar="FILE", help="the file to read ('-' for stdin)")
    p.add_argument("--force", action="store_true",
                   help="on conflict, release the registry's holder and take the file's entry")
    p.add_argument("--dry-run", action="store_true", help="report what would happen only")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_import)


def render_export(allocs: list[Allocation], fmt: str) -> str:
    import json


    if fmt == "csv":
        from port_server.exporters.csv_table import to_csv

        return to_csv(allocs)
    from port_server.exporters import registry_json

    if fmt == "portman":
        document = registry_json.to_portman_document(allocs)
    else:
        document = registry_json.to_json_document(allocs)
    return json.dumps(document, indent=2) + "\n"


def cmd_export(args: argparse.Namespace, ctx: Context) -> int:
    import os

    if args.output and os.path.isdir(args.output):
        raise InvalidInput(f"--output {args.output}: is a folder; give a file path, e.g."
                           f" {os.path.join(args.output, 'ports.' + args.format)}",
                           field="output")
    text = render_export(ctx.client.list(), args.format)
    if args.output:
        from port_server.safe_write import write_file

        write_file(args.output, text, field="output", follow_symlinks=args.follow_symlinks,
                   flag="--output")
        output.emit(f"wrote {args.format} export to {args.output}", stream=sys.stderr)
    else:
        output.raw(text)
    return EXIT_OK


def read_registry_file(name: str) -> list[Allocation]:
    """Entries from FILE, or InvalidInput naming the file and what is wrong with it."""
    import json

    from port_server.exporters.registry_json import parse_registry

    try:
        if name == "-":
            text = sys.stdin.read()
        else:
            with open(name, encoding="utf-8") as fh:
                text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InvalidInput(f"import file {name}: cannot read it ({reason})", field="file") from None
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"import file {name}: not valid JSON ({exc})", field="file") from None
    try:
        return parse_registry(document)
    except InvalidInput as exc:
        raise InvalidInput(exc.message.replace("import file:", f"import file {name}:", 1),
                           field="file") from None


def cmd_import(args: argparse.Namespace, ctx: Context) -> int:
    from port_server.import_plan import ImportReport

    entries = read_registry_file(args.file)
    try:
        report = ctx.client.import_allocations(entries, force=args.force, dry_run=args.dry_run)
    except ImportConflict as exc:
        data = exc.extra.get("report")
        if isinstance(data, dict):
            print_report(ImportReport.from_dict(data), args.json)
        raise
    print_report(report, args.json)
    return EXIT_ERROR if report.conflicts and not report.applied else EXIT_OK


def _line(a: Allocation) -> str:
    meta = ", ".join(f"{k}={v}" for k in ("type", "environment", "status", "owner", "url")
                     if (v := getattr(a, k)))
    return f"  port {a.port}/{a.protocol} {a.key}" + (f" ({meta})" if meta else "")


def print_report(report: ImportReport, as_json: bool = False) -> None:
    if as_json:
        output.as_json(report.to_dict())
        return
    verb = "would add" if not report.applied else "added"
    output.emit(f"{verb} {len(report.added)}, already matched {len(report.matched)},"
                f" conflicts {len(report.conflicts)}"
                + ("" if report.applied else " (nothing changed)"))
    for title, allocs in ((verb, report.added), ("already matched", report.matched),
                          ("released (file won)", report.replaced)):
        if allocs:
            output.emit(f"{title}:")
            for a in allocs:
                output.emit(_line(a))
    if report.conflicts:
        output.emit("conflicts" + (" (file won)" if report.applied else "") + ":")
        for c in report.conflicts:
            output.emit(f"  {c.reason}")
