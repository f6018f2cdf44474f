"""``port-server``: parse flags, take the data-dir lock, bind, and run uvicorn. Wiring only.

The only module that imports uvicorn.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import importlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from port_server import __version__
from port_server.errors import AlreadyRunning, PortServerError
from port_server.settings import Settings, load_settings

log = logging.getLogger("port_server")

LISTEN_BACKLOG = 1024
BIND_RETRY_SECONDS = 5.0


#: ``port-server NAME ...`` subcommands: module (with ``run(argv) -> int``) and what it does.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "migrate": ("port_server.server.migrate", "copy a registry to another store"),
    "install-service": ("port_server.server.install_service",
                        "write and enable a systemd user unit; --print only prints it"),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="port-server",
        description="Run the port registry daemon (HTTP JSON API, default 127.0.0.1:51234).",
        epilog="Subcommands: " + "; ".join(f"port-server {name} ... ({what})"
                                           for name, (_, what) in SUBCOMMANDS.items()),
    )
    add_server_flags(p)
    p.add_argument("--version", action="version", version=f"port-server {__version__}")
    return p


def add_server_flags(p: argparse.ArgumentParser) -> None:
    """The flags that configure a server; install-service passes them on to its ExecStart."""
    p.add_argument("--host", help="address to listen on (default 127.0.0.1; loopback only)")
    p.add_argument("--port", type=int, help="TCP port to listen on (default 51234)")
    p.add_argument("--db", help="SQLite database file (default DATA_DIR/registry.db)")
    p.add_argument("--store", help="store URL: sqlite:///path or postgresql://...")
    p.add_argument("--pidfile", help="pid file (default DATA_DIR/port-server.pid)")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                   help="log level (default info)")
    p.add_argument("--config", help="TOML config file (default ~/.config/port-server/config.toml"
                                    " or $PORT_SERVER_HOME/config.toml)")
    p.add_argument("--host-id", help="name of this host in the registry (default hostname)")
    p.add_argument("--bind-retry", type=float, default=BIND_RETRY_SECONDS, metavar="SECONDS",
                   help="keep retrying a busy listen address this long (default %(default)s)")


def settings_from_args(args: argparse.Namespace) -> Settings:
    store = args.store or (f"sqlite:///{Path(args.db).expanduser().resolve()}" if args.db else None)
    return load_settings(
        config_path=Path(args.config).expanduser() if args.config else None,
        host=args.host, port=args.port, store_url=store,
        pidfile=Path(args.pidfile).expanduser() if args.pidfile else None,
        log_level=args.log_level, host_id=args.host_id,
    )


def check_listen_address(host: str) -> None:
    """Loopback unless the user asks otherwise, and then only with authentication (issue 8)."""
    import ipaddress

    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise PortServerError(
            f"--host {host}: refusing to listen on a non-loopback address without"
            " authentication; use 127.0.0.1 or ::1")


def take_lock(settings: Settings) -> IO[str]:
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fh = settings.lockfile.open("a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        pid = read_pid(settings.effective_pidfile)
        raise AlreadyRunning(
            f"another port-server is already running on data dir {settings.data_dir}"
            f"{f' (pid {pid})' if pid else ''}; stop it with `portctl stop` or set"
            " PORT_SERVER_HOME to another directory") from None
    return fh


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def bind_socket(host: str, port: int, retry_seconds: float = BIND_RETRY_SECONDS) -> socket.socket:
    """Bind, retrying while the port is busy: 51234 is in the kernel's ephemeral range, so an
    outgoing connection may hold it for a moment."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline = time.monotonic() + retry_seconds
    while True:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen(LISTEN_BACKLOG)
            sock.set_inheritable(True)
            return sock
        except OSError as exc:
            sock.close()
            if exc.errno != errno.EADDRINUSE:
                raise PortServerError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
            if time.monotonic() >= deadline:
                raise PortServerError(address_in_use_message(host, port)) from None
            time.sleep(0.2)


def address_in_use_message(host: str, port: int) -> str:
    from port_server.probe import processes_on_port

    procs = processes_on_port(port)
    who = ", ".join(p.describe() for p in procs) or "another process"
    hint = ("is another port-server running? check with `portctl status`"
            if any("port-server" in p.cmdline or "port_server" in p.cmdline for p in procs)
            else "stop it or pass --port")
    return f"cannot listen on {host}:{port}: the address is in use by {who}; {hint}"


def serve(settings: Settings, bind_retry: float = BIND_RETRY_SECONDS) -> int:
    import uvicorn

    from port_server.server.app import create_app
    from port_server.service import RegistryService
    from port_server.store import open_store
    from port_server.store.urls import redact_url

    check_listen_address(settings.host)
    lock = take_lock(settings)
    sock = bind_socket(settings.host, settings.port, bind_retry)
    store = open_store(settings.effective_store_url)
    pidfile = settings.effective_pidfile
    try:
        service = RegistryService(store, settings)
        app = create_app(service, settings)
        pidfile.write_text(f"{os.getpid()}\n{settings.host}:{settings.port}\n")
        config = uvicorn.Config(
            app, log_level=settings.log_level, access_log=settings.log_level == "debug",
            timeout_keep_alive=30, limit_concurrency=2048, backlog=LISTEN_BACKLOG,
            h11_max_incomplete_event_size=64 * 1024, server_header=False,
        )
        server = uvicorn.Server(config)
        # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal to the
        # handler that was installed before it; make that one a clean exit with status 0.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, _exit_cleanly)
        log.info("port-server %s listening on %s:%s, store %s", __version__, settings.host,
                 settings.port, redact_url(settings.effective_store_url))
        server.run(sockets=[sock])
    finally:
        if read_pid(pidfile) == os.getpid():
            pidfile.unlink(missing_ok=True)
        store.close()
        sock.close()
        lock.close()
    return 0


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:  # `port-server NAME ...`; otherwise the daemon's flags
        module = importlib.import_module(SUBCOMMANDS[argv[0]][0])
        code: int = module.run(argv[1:])
        return code
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=(args.log_level or "info").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return serve(settings_from_args(args), args.bind_retry)
    except PortServerError as exc:
        print(f"port-server: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
