"""portctl proxy start | stop | status | ca | trust | hosts: names instead of ports.

The server runs Caddy and keeps its routes; these commands ask the server, except ``trust``
(Caddy's own command, run here so that it can ask for privileges) and ``hosts --write``.
"""

from __future__ import annotations

import argparse

from port_server.cli import output
from port_server.safe_write import FOLLOW_HELP

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
    if action != "hosts" and (args.write or args.file != HOSTS_FILE):
        from port_server.errors import InvalidInput

        raise InvalidInput("--write and --file go with `portctl proxy hosts`", field="file")
    if action in ("start", "stop", "status"):
        data = ctx.client.proxy("" if action == "status" else action,
                                all_hosts=action == "start" and args.all_hosts)
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

    from port_server.proxy_files import hosts_block, merge_hosts
    from port_server.safe_write import write_file

    names = [r["name"] for r in data.get("routes", ())]
    if not args.write:
        output.raw(hosts_block(names))
        return 0
    path = Path(args.file)
    try:
        current = path.read_text()
        updated = merge_hosts(current, names)
        if updated != current:
            write_file(path, updated, field="file", follow_symlinks=args.follow_symlinks)
    except OSError as exc:
        output.error(f"{path}: {exc.strerror or exc}; run it as root (sudo portctl proxy hosts"
                     " --write) or omit --write to print the block")
        return 1
    output.info(f"{path}: {len(names)} proxy name(s) in port-server's block")
    return 0


def round_trip(data: dict[str, Any], name: str, cafile: str | None,
               timeout: float = 5.0) -> tuple[int, str]:
    """GET / at ``name`` through the proxy (connecting to loopback; SNI and Host carry the
    name): (status, body). ``cafile`` None verifies against the system's trust store."""
    import socket
    import ssl

    port = int(data["https_port"] if data["scheme"] == "https" else data["http_port"])
    sock: Any = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        if data["scheme"] == "https":
            ctx = ssl.create_default_context(cafile=cafile)
            sock = ctx.wrap_socket(sock, server_hostname=name)
        sock.sendall(f"GET / HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    finally:
        sock.close()
    text = b"".join(chunks).decode(errors="replace")
    head, _, body = text.partition("\r\n\r\n")
    return int(head.split(" ", 2)[1]), body


def doctor_checks(ctx: Context) -> list[Any]:
    """``portctl doctor``'s proxy lines: running, one round trip, CA trusted, names clash."""
    import ssl
    import time

    from port_server.cli.output import Check
    from port_server.errors import PortServerError

    try:
        data = ctx.client.proxy()
    except PortServerError:
        return []  # the server check already says why
    if not data.get("enabled") and not data.get("running"):
        return [Check("proxy", "ok", "not started; `portctl proxy start` gives every HTTP"
                                     " service a name like https://web.dev.app.localhost")]
    if not data.get("running"):
        why = f" ({data['last_error']})" if data.get("last_error") else ""
        return [Check("proxy", "fail", f"enabled, but Caddy does not answer at {data['admin']}"
                                       f"{why}; run `portctl proxy start`")]
    checks = []
    started = time.monotonic()
    try:
        status, body = round_trip(data, "localhost", data.get("ca") or None)
        ms = (time.monotonic() - started) * 1000
        ok = status == 200 and "port-server names" in body
        checks.append(Check("proxy", "ok" if ok else "fail",
                            f"running; {data['index']} answered {status} in {ms:.0f} ms"
                            f" ({len(data['routes'])} names)"))
    except (OSError, ValueError, IndexError) as exc:
        checks.append(Check("proxy", "fail", f"running, but a request through it failed:"
                                             f" {exc}; see {data['admin']}"))
        return checks
    if data.get("ca"):
        try:
            round_trip(data, "localhost", None)
            checks.append(Check("proxy CA", "ok", "Caddy's local CA is trusted by this system"))
        except ssl.SSLError:
            checks.append(Check("proxy CA", "warn", f"{data['ca']} is not trusted by this"
                                                    " system; run `portctl proxy trust`"))
        except OSError as exc:
            checks.append(Check("proxy CA", "warn", f"not checked: {exc}"))
    for problem in data.get("problems", ()):
        checks.append(Check("proxy names", "warn", f"not routed: {problem}"))
    return checks


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
    p.add_argument("--all-hosts", action="store_true",
                   help="start: also route other hosts' allocations of a shared registry, at"
                        " SERVICE.INSTANCE.APP.HOST.localhost")
    p.add_argument("--write", action="store_true",
                   help="hosts: keep the names in a marked block of --file (needs root)")
    p.add_argument("--file", default=HOSTS_FILE, help="hosts: the file (default /etc/hosts)")
    p.add_argument("--follow-symlinks", action="store_true", help=FOLLOW_HELP)
    p.set_defaults(func=cmd_proxy)
