"""``port-server``'s flags and how they become settings (shared with ``install-service``)."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from port_server import __version__
from port_server.settings import Settings, load_settings

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
    p.add_argument("--host", help="address to listen on (default 127.0.0.1; a non-loopback"
                                  " address needs --token-file)")
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
    p.add_argument("--token-file",
                   help="require 'Authorization: Bearer <token>' on TCP; the file is created"
                        " (mode 0600) with a random token if missing")
    p.add_argument("--unix-socket", metavar="PATH",
                   help="also listen on this Unix socket (default $XDG_RUNTIME_DIR/"
                        "port-server.sock or DATA_DIR/port-server.sock; 'none' to disable)")


def settings_from_args(args: argparse.Namespace) -> Settings:
    store = args.store or (f"sqlite:///{Path(args.db).expanduser().resolve()}" if args.db else None)
    settings = load_settings(
        config_path=Path(args.config).expanduser() if args.config else None,
        host=args.host, port=args.port, store_url=store,
        pidfile=Path(args.pidfile).expanduser() if args.pidfile else None,
        log_level=args.log_level, host_id=args.host_id,
    )
    security = settings.security
    if args.token_file:
        security = replace(security, token_file=Path(args.token_file).expanduser().resolve())
    if args.unix_socket:
        security = replace(security, unix_socket=None if args.unix_socket == "none"
                           else Path(args.unix_socket).expanduser())
    return replace(settings, security=security)
