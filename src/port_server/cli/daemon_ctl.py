"""portctl health | start | stop | restart | status | version: the daemon's life cycle."""

from __future__ import annotations

import argparse
import os
import sys
import time

from port_server import __version__
from port_server.cli import output
from port_server.errors import (
    EXIT_OK,
    EXIT_UNREACHABLE,
    InvalidInput,
    PortServerError,
    ServerUnreachable,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from pathlib import Path
    from typing import Any

    from port_server.cli import Context

START_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("health", help="is the server up and its store writable? exit 0 yes,"
                                      " 1 store unavailable (the cause is shown), 3 unreachable",
                       description="Ask the server's /healthz. With --wait, keep asking until it"
                                   " answers (after `port-server &`, before the first command).")
    p.add_argument("--wait", type=float, nargs="?", const=START_TIMEOUT, metavar="SECONDS",
                   help=f"wait up to SECONDS (default {START_TIMEOUT:g}) for the server to answer")
    p.add_argument("--json", action="store_true", help="print the health answer as JSON")
    p.set_defaults(func=cmd_health)

    p = sub.add_parser("start", help="start port-server in the background (logs in the data dir)",
                       description="Start port-server detached on the address portctl uses, "
                                   "wait until /healthz answers.")
    p.add_argument("--wait", type=float, default=START_TIMEOUT,
                   help=f"seconds to wait for /healthz (default {START_TIMEOUT:g})")
    p.set_defaults(func=cmd_start)

    p = sub.add_parser("stop", help="stop the running port-server (SIGTERM, clean shutdown)")
    p.set_defaults(func=cmd_stop)

    p = sub.add_parser("restart", help="stop, then start port-server")
    p.add_argument("--wait", type=float, default=START_TIMEOUT,
                   help=f"seconds to wait for /healthz (default {START_TIMEOUT:g})")
    p.set_defaults(func=cmd_restart)

    p = sub.add_parser("status", help="server address, pid, version, store and data dir")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("version", help="print the CLI's and the server's versions")
    p.add_argument("--json", action="store_true", help="print versions as JSON")
    p.set_defaults(func=cmd_version)


def cmd_health(args: argparse.Namespace, ctx: Context) -> int:
    if args.wait is not None:
        if args.wait < 0:
            raise InvalidInput("--wait: give seconds >= 0, e.g. --wait 10", field="wait")
        if _healthy_within(ctx, args.wait, None) is None:
            raise ServerUnreachable(f"port-server did not answer at {ctx.client.via} within"
                                    f" {args.wait:g}s; start it with `portctl start`")
    from port_server.errors import EXIT_ERROR, StoreUnavailable

    try:
        data = ctx.client.health()
    except StoreUnavailable as exc:  # up, but not ready: say why
        if args.json:
            output.as_json(exc.to_json())
        else:
            cause = exc.extra.get("cause")
            output.error(f"not ready ({cause or 'store'}): {exc.message}")
        return EXIT_ERROR
    if args.json:
        output.as_json(data)
    else:
        output.emit(f"ok: port-server {data.get('version', '?')} at {ctx.client.via}")
    return EXIT_OK


def _listen_args(ctx: Context) -> list[str]:
    target = ctx.client.target
    if isinstance(target, str):
        raise InvalidInput("portctl start needs a TCP address (HOST:PORT), not a Unix socket",
                           field="addr")
    return ["--host", target[0], "--port", str(target[1])]


def _healthy_within(ctx: Context, seconds: float,
                    proc: subprocess.Popen[bytes] | None) -> dict[str, Any] | None:
    """/healthz's answer once the server gives one within ``seconds``; None when it does not
    (or when ``proc``, the server we started, exits first)."""
    deadline = time.monotonic() + seconds
    while True:
        if proc is not None and proc.poll() is not None:
            return None
        try:
            return ctx.client.health()
        except ServerUnreachable:
            ctx.client.close()
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)


def cmd_start(args: argparse.Namespace, ctx: Context) -> int:
    from port_server.settings import data_dir_from_env

    try:
        info = ctx.client.info()
        output.emit(f"port-server is already running at {ctx.client.addr}"
                    f" (pid {info.get('pid', '?')})")
        return EXIT_OK
    except ServerUnreachable:
        ctx.client.close()
    import subprocess

    data_dir = data_dir_from_env()
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    log_path = data_dir / "port-server.log"
    cmd = [sys.executable, "-m", "port_server.server.daemon", *_listen_args(ctx)]
    with log_path.open("ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True, close_fds=True)
    if _healthy_within(ctx, args.wait, proc) is None:
        tail = _tail(log_path)
        raise PortServerError(f"port-server did not start; last log line: {tail}"
                              f" (full log: {log_path})")
    output.emit(f"started port-server at {ctx.client.addr} (pid {proc.pid}, log {log_path})")
    return EXIT_OK


def _tail(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "(no log)"
    return lines[-1] if lines else "(empty log)"


def _server_pid(ctx: Context) -> int | None:
    try:
        pid = ctx.client.info().get("pid")
        return int(pid) if pid else None
    except ServerUnreachable:
        ctx.client.close()
        return None


def cmd_stop(args: argparse.Namespace, ctx: Context) -> int:
    pid = _server_pid(ctx)
    if pid is None:
        output.emit(f"port-server is not running at {ctx.client.addr}")
        return EXIT_OK
    import signal

    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        if not _alive(pid):
            output.emit(f"stopped port-server (pid {pid})")
            return EXIT_OK
        time.sleep(0.05)
    raise PortServerError(f"port-server (pid {pid}) did not stop within {STOP_TIMEOUT:g}s")


def _alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped by its parent) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def cmd_restart(args: argparse.Namespace, ctx: Context) -> int:
    cmd_stop(args, ctx)
    return cmd_start(args, ctx)


def _where(ctx: Context) -> dict[str, Any]:
    """Where the client looks for the server, and why (see ``port_server.address``)."""
    client = ctx.client
    tcp = None if isinstance(client.target, str) else client.addr
    return {"via": client.via, "tcp": tcp, "tcp_from": client.endpoint.source,
            "unix_socket": client.endpoint.unix_first or (
                client.target if isinstance(client.target, str) else None)}


def cmd_status(args: argparse.Namespace, ctx: Context) -> int:
    try:
        info = ctx.client.info()
        count = len(ctx.client.list())
    except ServerUnreachable as exc:
        if args.json:
            output.as_json({"running": False, "addr": ctx.client.addr, **_where(ctx)})
        else:
            _print_where(_where(ctx))
        output.error(exc.message)
        return EXIT_UNREACHABLE
    where = _where(ctx)
    info = {"running": True, "addr": ctx.client.addr, **where, "allocations": count, **info}
    if args.json:
        output.as_json(info)
        return EXIT_OK
    output.emit(f"port-server {info.get('version')} running at {where['via']}"
                f" (pid {info.get('pid')})")
    _print_where(where)
    output.emit(f"  host id:     {info.get('host')}")
    output.emit(f"  store:       {info.get('store')}")
    output.emit(f"  data dir:    {info.get('data_dir')}")
    output.emit(f"  allocations: {count}")
    return EXIT_OK


def _print_where(where: dict[str, Any]) -> None:
    output.emit(f"  connects to: {where['via']}")
    if where["tcp"]:
        output.emit(f"  tcp address: {where['tcp']} (from {where['tcp_from']})")
    output.emit(f"  unix socket: {where['unix_socket'] or '(none found; using TCP)'}")


def cmd_version(args: argparse.Namespace, ctx: Context) -> int:
    server: str | None
    try:
        server = str(ctx.client.health().get("version"))
    except ServerUnreachable:
        server = None
    if args.json:
        output.as_json({"portctl": __version__, "server": server, "addr": ctx.client.addr,
                        "via": ctx.client.via})
    else:
        output.emit(f"portctl {__version__}")
        output.emit(f"port-server {server} at {ctx.client.via}" if server
                    else f"port-server not reachable at {ctx.client.via}")
    return EXIT_OK
