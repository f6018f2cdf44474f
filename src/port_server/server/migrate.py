"""``port-server migrate --from URL --to URL``: move a registry between stores. Wiring only.

Typical use: ``port-server migrate --from sqlite:///~/.local/share/port-server/registry.db
--to postgresql://user:pass@db/ports`` when a team moves onto a shared database.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from port_server.errors import EXIT_ERROR, EXIT_OK, PortServerError
from port_server.settings import load_settings


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="port-server migrate",
        description="Copy a registry (allocations with their ids and metadata, and the audit log"
                    " when there is one) from one store to another, then check that every row"
                    " arrived. Safe to re-run: rows already in the target are not copied again.")
    p.add_argument("--from", dest="source", metavar="URL",
                   help="source store: sqlite:///path (default: this machine's registry)")
    p.add_argument("--to", dest="target", metavar="URL", required=True,
                   help="target store: postgresql://user:password@host/db or sqlite:///path")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    return p


def expand(url: str) -> str:
    """``sqlite:///~/x.db`` -> an absolute path; other URLs unchanged."""
    if url.startswith("sqlite:///"):
        return f"sqlite:///{Path(url[len('sqlite:///'):]).expanduser()}"
    return url


def run(argv: Sequence[str]) -> int:
    from port_server.store import open_store
    from port_server.store.transfer import copy_registry
    from port_server.store.urls import redact_url

    args = build_parser().parse_args(argv)
    source = expand(args.source or load_settings().effective_store_url)
    target = expand(args.target)
    if source == target:
        print("port-server migrate: --from and --to name the same store", file=sys.stderr)
        return 2
    if source.startswith("sqlite:///") and not Path(source[len("sqlite:///"):]).is_file():
        print(f"port-server migrate: --from: no such file {source[len('sqlite:///'):]}",
              file=sys.stderr)
        return 2
    src = dst = None
    try:
        src = open_store(source)
        dst = open_store(target)
        dst.check()
        results = copy_registry(src, dst)
    except PortServerError as exc:
        print(f"port-server migrate: {exc.message}", file=sys.stderr)
        return exc.exit_code
    finally:
        for store in (src, dst):
            if store is not None:
                store.close()
    ok = all(r.verified for r in results)
    if args.json:
        print(json.dumps({"from": redact_url(source), "to": redact_url(target), "ok": ok,
                          "tables": [r.to_dict() for r in results]}, indent=2))
    else:
        print(f"from {redact_url(source)}\nto   {redact_url(target)}")
        print(f"{'TABLE':<12} {'SOURCE':>7} {'COPIED':>7} {'ALREADY':>8} {'TARGET':>7}  CHECK")
        for r in results:
            print(f"{r.table:<12} {r.source_rows:>7} {r.copied:>7} {r.already_there:>8}"
                  f" {r.target_rows:>7}  {'ok' if r.verified else 'MISSING ROWS'}")
        print("every source row is in the target, ids kept" if ok
              else "some source rows are missing from the target")
    return EXIT_OK if ok else EXIT_ERROR
