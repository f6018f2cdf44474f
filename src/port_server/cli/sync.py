"""portctl sync dokploy | nginx, and ``portman sync [--dry-run] [--nginx]``.

The CLI reads Dokploy itself (its API key never reaches port-server), maps what it publishes to
desired allocations, and sends them in one call: the server plans and applies the sync in one
transaction. Dokploy's address and key: flags, then $DOKPLOY_URL / $DOKPLOY_API_KEY, then the
config file's ``[dokploy]`` table (url, api_key, timeout, monitoring, server, listen, cert, key).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from port_server.cli import output
from port_server.errors import EXIT_OK, InvalidInput

if TYPE_CHECKING:
    from port_server.cli import Context
    from port_server.exporters.nginx_conf import ProxyRoute, SkippedRoute
    from port_server.integrations.dokploy import Snapshot

PLAN_HEADERS = ("ACTION", "PORT", "PROTO", "APP", "INSTANCE", "SERVICE", "DETAIL")
ACTION_ORDER = {"conflict": 0, "add": 1, "update": 2, "remove": 3, "unchanged": 4}


def dokploy_config() -> dict[str, Any]:
    from port_server.settings import config_path_from_env, load_config_file

    table = load_config_file(config_path_from_env()).get("dokploy") or {}
    if not isinstance(table, dict):
        raise InvalidInput("config: [dokploy] must be a table", field="dokploy")
    return table


def _setting(args: argparse.Namespace, name: str, env: str | None, config: dict[str, Any],
             default: Any = None) -> Any:
    value = getattr(args, name, None)
    if value is None and env:
        value = os.environ.get(env) or None
    if value is None:
        value = config.get(name)
    return default if value is None else value


def add_dokploy_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", help="Dokploy address, e.g. http://127.0.0.1:3000 (default"
                                 " $DOKPLOY_URL or [dokploy] url)")
    p.add_argument("--api-key", dest="api_key",
                   help="Dokploy API key (default $DOKPLOY_API_KEY or [dokploy] api_key)")
    p.add_argument("--timeout", type=float, help="seconds per Dokploy request (default 10)")
    p.add_argument("--server", help="sync the services of this remote Dokploy server (name or"
                                    " id) into registry host NAME (default: the Dokploy host)")
    p.add_argument("--monitoring", action="store_true", default=None,
                   help="Dokploy monitoring is on: register its port 4500 too")


def add_nginx_args(p: argparse.ArgumentParser) -> None:
    from port_server.cli.args import port_arg

    p.add_argument("--listen", type=port_arg, help="port the server blocks listen on"
                                                   " (default 8080; Traefik holds 80/443)")
    p.add_argument("--ssl-listen", type=port_arg, dest="ssl_listen",
                   help="port of the HTTPS blocks (default 8443; needs --cert and --key)")
    p.add_argument("--cert", help="certificate file: adds HTTPS server blocks")
    p.add_argument("--key", help="certificate key file (with --cert)")


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("sync", help="sync the registry with a deploy platform (Dokploy)",
                       description="Keep the registry in step with what a deploy platform"
                                   " publishes.")
    platforms = p.add_subparsers(dest="platform", metavar="PLATFORM", parser_class=type(p))
    d = platforms.add_parser(
        "dokploy", help="sync with Dokploy: add, update, remove; never overwrite others",
        description="Read every Dokploy project, environment and service, map each published"
                    " host port to an allocation (app=project, instance=environment,"
                    " service=service name, source=dokploy) and apply the plan: add, update,"
                    " unchanged, remove (a dokploy allocation whose service is gone), conflict"
                    " (held by a non-dokploy allocation: reported, never overwritten).")
    add_dokploy_args(d)
    d.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
    d.add_argument("--json", action="store_true", help="print the plan as JSON")
    d.set_defaults(func=cmd_sync_dokploy)
    p.set_defaults(func=lambda args, ctx: _need_platform(p))

    n = sub.add_parser(
        "nginx", help="print an nginx config for allocations that have a url",
        description="Print nginx server blocks (plus one map) to include inside http {}: one"
                    " server per domain host, a location per path, proxy_pass to the"
                    " allocation's port. HTTPS blocks only with --cert and --key.")
    n.add_argument("--app", help="only this application")
    n.add_argument("--upstream-host", dest="upstream_host", default="127.0.0.1",
                   help="address to proxy to (default 127.0.0.1)")
    add_nginx_args(n)
    n.add_argument("--json", action="store_true", help="print the routes as JSON instead")
    n.set_defaults(func=cmd_nginx)


def _need_platform(p: argparse.ArgumentParser) -> int:
    p.error("choose a platform: portctl sync dokploy --url URL")
    return 2


# -- reading Dokploy ----------------------------------------------------------------------------

def read_dokploy(args: argparse.Namespace) -> Snapshot:
    from port_server.integrations.dokploy import fetch_snapshot
    from port_server.integrations.dokploy_client import DEFAULT_TIMEOUT, DokployClient

    config = dokploy_config()
    url = _setting(args, "url", "DOKPLOY_URL", config)
    if not url:
        raise InvalidInput("--url: missing; pass --url http://HOST:3000, set $DOKPLOY_URL or"
                           " [dokploy] url in the config file", field="url")
    key = _setting(args, "api_key", "DOKPLOY_API_KEY", config, "")
    try:
        timeout = float(_setting(args, "timeout", "DOKPLOY_TIMEOUT", config, DEFAULT_TIMEOUT))
    except (TypeError, ValueError):
        raise InvalidInput("--timeout: use a number of seconds", field="timeout") from None
    return fetch_snapshot(DokployClient(str(url), str(key), timeout))


def run_sync(args: argparse.Namespace, ctx: Context) -> int:
    from port_server.integrations.dokploy_map import desired_allocations, elsewhere
    from port_server.models import registry_name

    config = dokploy_config()
    server = _setting(args, "server", None, config)
    monitoring = bool(_setting(args, "monitoring", None, config, False))
    snapshot = read_dokploy(args)
    if server is not None:
        known = {s.server_name for s in snapshot.services} | {s.server_id for s in
                                                            snapshot.services}
        if str(server) not in known - {""}:
            names = ", ".join(sorted(n for n in known if n)) or "none"
            raise InvalidInput(f"--server: no Dokploy service runs on {server!r}; remote"
                               f" servers: {names}", field="server")
    desired = desired_allocations(snapshot, str(server) if server else None, monitoring)
    result = ctx.client.sync_dokploy(desired, dry_run=args.dry_run,
                                     host=registry_name(str(server)) if server else None)
    warnings = list(snapshot.warnings)
    other = elsewhere(snapshot, str(server) if server else None)
    if other:
        warnings.append("services on other Dokploy servers were left out: "
                        f"{', '.join(other)} (sync them with --server NAME)")
    if args.json:
        output.as_json({**result, "dokploy": {"version": snapshot.version,
                                              "shape": snapshot.shape},
                        "warnings": warnings})
        return EXIT_OK
    plan = sorted(result["plan"], key=lambda it: (ACTION_ORDER.get(it["action"], 9),
                                                  it["app"], it["instance"], it["service"]))
    output.table(PLAN_HEADERS, [
        (it["action"], it["port"] if not it.get("old_port") else
         f"{it['old_port']}->{it['port']}", it["protocol"], it["app"], it["instance"],
         it["service"], it["detail"]) for it in plan], empty="Dokploy publishes no host ports")
    counts = ", ".join(f"{n} {a}" for a, n in result["summary"].items())
    version = snapshot.version or "version unknown"
    done = "dry run: nothing changed" if args.dry_run else "applied"
    output.emit(f"dokploy {version} ({snapshot.shape}) -> host {result['host']}: {counts};"
                f" {done}")
    for warning in warnings:
        output.warn(warning)
    if result["summary"].get("conflict"):
        output.warn(f"{result['summary']['conflict']} conflict(s): those ports are held by"
                    " allocations of another source and were left as they are")
    return EXIT_OK


def cmd_sync_dokploy(args: argparse.Namespace, ctx: Context) -> int:
    return run_sync(args, ctx)


# -- nginx ------------------------------------------------------------------------------------

def print_nginx(args: argparse.Namespace, routes: list[ProxyRoute],
                skipped: list[SkippedRoute], title: str) -> int:
    from dataclasses import asdict

    from port_server.exporters.nginx_conf import DEFAULT_LISTEN, DEFAULT_SSL_LISTEN, render

    if getattr(args, "json", False):
        output.as_json({"routes": [asdict(r) for r in routes],
                        "skipped": [asdict(s) for s in skipped]})
        return EXIT_OK
    config = dokploy_config()
    text = render(routes, skipped,
                  listen=int(_setting(args, "listen", None, config, DEFAULT_LISTEN)),
                  ssl_listen=int(_setting(args, "ssl_listen", None, config, DEFAULT_SSL_LISTEN)),
                  cert=_setting(args, "cert", None, config), key=_setting(args, "key", None,
                                                                          config),
                  title=title)
    output.emit(text.rstrip("\n"))
    return EXIT_OK


def allocation_routes(allocs: Sequence[Any], upstream: str
                      ) -> tuple[list[ProxyRoute], list[SkippedRoute]]:
    from urllib.parse import urlsplit

    from port_server.exporters.nginx_conf import ProxyRoute, SkippedRoute

    routes, skipped = [], []
    for alloc in allocs:
        if not alloc.url:
            continue
        parts = urlsplit(alloc.url if "://" in alloc.url else f"http://{alloc.url}")
        host, path = parts.hostname or "", parts.path or "/"
        if alloc.protocol != "tcp":
            skipped.append(SkippedRoute(host, path, f"{alloc.key} is {alloc.protocol}"))
            continue
        routes.append(ProxyRoute(host, path, upstream, alloc.port,
                                 label=f"{alloc.key} (id={alloc.id})"))
    return routes, skipped


def cmd_nginx(args: argparse.Namespace, ctx: Context) -> int:
    from port_server.models import AllocationFilter

    allocs = ctx.client.list(AllocationFilter(app=args.app))
    routes, skipped = allocation_routes(allocs, args.upstream_host)
    return print_nginx(args, routes, skipped, "portctl nginx")


# -- portman sync -------------------------------------------------------------------------------

def portman_parser() -> argparse.ArgumentParser:
    from port_server.cli import _Parser

    p = _Parser(prog="portman sync",
                description="Sync the registry with Dokploy: --dry-run previews,"
                            " --nginx prints an nginx config for Dokploy's domains instead.")
    add_dokploy_args(p)
    p.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
    p.add_argument("--nginx", action="store_true",
                   help="print an nginx config for Dokploy's domains (changes nothing)")
    add_nginx_args(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    return p


def portman_sync(args_list: list[str], ctx: Context) -> int:
    """``portman sync [--dry-run] [--nginx] ...``: errors propagate to the caller's handler."""
    args = portman_parser().parse_args(args_list)
    if args.nginx:
        from port_server.integrations.dokploy_map import proxy_routes

        snapshot = read_dokploy(args)
        routes, skipped = proxy_routes(snapshot)
        return print_nginx(args, routes, skipped, "portman sync --nginx (Dokploy)")
    return run_sync(args, ctx)
