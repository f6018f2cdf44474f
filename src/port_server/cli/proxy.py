"""portctl proxy start | stop | status | ca | trust | hosts: names instead of ports.

The server runs Caddy and keeps its routes; these commands ask the server, except ``trust``
(Caddy's own command, run here so that it can ask for privileges) and ``hosts --write``.
"""

from __future__ import annotations

import argparse

from port_server.cli import output

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from port_server.cli import Context

HOSTS_FILE = "/etc/hosts"


def _summary(data: dict[str, Any]) -> None:
    if not data.get("running"):
        state = "enabled but not answering" if data.get("enabled") else "stopped"
        output.emit(f"proxy {state}; start it with `portctl proxy start`")
        if data.get("last_error"):
            output.emit(f"last error: {data['last_error']}")
        return
    output.emit(f"proxy running (Caddy pid {data.get('pid') or '?'}); {data['index']} lists"
                " every name")
    rows = [(r["url"], r["upstream"], r["kind"], r["alloc_id"]) for r in data["routes"]]
    output.table(("URL", "UPSTREAM", "KIND", "ID"), rows,
                 empty="no names yet: allocate a web, api or monitoring service (or --http)")
    for problem in data.get("problems", ()):
        output.warn(f"not routed: {problem}")
    if data.get("ca"):
        output.emit(f"CA root: {data['ca']} (trust it once: `portctl proxy trust`)")


def cmd_proxy(args: argparse.Namespace, ctx: Context) -> int:
    action = args.action or "status"
    if action in ("start", "stop", "status"):
        data = ctx.client.proxy("" if action == "status" else action)
        if args.json:
            output.as_json(data)
        else:
            _summary(data)
        return 0
    data = ctx.client.proxy()
    if action == "ca":
        if not data.get("ca"):
            output.error("the proxy serves plain HTTP ([proxy] https = false): no CA")
            return 1
        output.emit(data["ca"])
        return 0
    if action == "trust":
        return _trust(data)
    return _hosts(data, args)


def _trust(data: dict[str, Any]) -> int:
    import subprocess

    from port_server.errors import FeatureUnavailable
    from port_server.integrations.caddy_admin import INSTALL_HINT, find_caddy

    if not data.get("running"):
        output.error("the proxy is not running; start it first: portctl proxy start")
        return 1
    caddy = data.get("caddy") or find_caddy()
    if not caddy:
        raise FeatureUnavailable(f"`portctl proxy trust` runs Caddy's trust command;"
                                 f" {INSTALL_HINT}")
    return subprocess.call([caddy, "trust", "--address", data["admin"]])


def _hosts(data: dict[str, Any], args: argparse.Namespace) -> int:
    from pathlib import Path

    from port_server.proxy_files import hosts_block, merge_hosts, write_text_safely

    names = [r["name"] for r in data.get("routes", ())]
    if not args.write:
        output.raw(hosts_block(names))
        return 0
    path = Path(args.file)
    try:
        current = path.read_text()
        updated = merge_hosts(current, names)
        if updated != current:
            write_text_safely(path, updated)
    except OSError as exc:
        output.error(f"{path}: {exc.strerror or exc}; run it as root (sudo portctl proxy hosts"
                     " --write) or omit --write to print the block")
        return 1
    output.info(f"{path}: {len(names)} proxy name(s) in port-server's block")
    return 0


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "proxy", help="names instead of ports: https://web.<instance>.<app>.localhost",
        description="Run the HTTPS front door (Caddy, managed by the server): every HTTP"
                    " allocation answers at <service>.<instance>.<app>.localhost. Actions:"
                    " start, stop, status (default), ca (print the CA root's path), trust"
                    " (install that root with Caddy's trust command), hosts (print, or"
                    " --write, an /etc/hosts block of the names).")
    p.add_argument("action", nargs="?", choices=("start", "stop", "status", "ca", "trust",
                                                 "hosts"), help="what to do (default status)")
    p.add_argument("--json", action="store_true", help="machine-readable status")
    p.add_argument("--write", action="store_true",
                   help="hosts: keep the names in a marked block of --file (needs root)")
    p.add_argument("--file", default=HOSTS_FILE, help="hosts: the file (default /etc/hosts)")
    p.set_defaults(func=cmd_proxy)
