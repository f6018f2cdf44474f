"""``port-server``: parse flags, take the data-dir lock, bind, and run uvicorn. Wiring only.

The only module that imports uvicorn.
"""

from __future__ import annotations

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
from typing import IO, Any

from port_server import __version__
from port_server.errors import AlreadyRunning, PortServerError
from port_server.server.daemon_args import (
    BIND_RETRY_SECONDS,
    SUBCOMMANDS,
    build_parser,
    settings_from_args,
)
from port_server.settings import Settings

log = logging.getLogger("port_server")

LISTEN_BACKLOG = 1024


def check_listen_address(host: str, token_file: Path | None = None) -> None:
    """Loopback unless the user asks otherwise, and then only with authentication."""
    import ipaddress

    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and token_file is None:
        raise PortServerError(
            f"--host {host}: refusing to listen on a non-loopback address without"
            " authentication; use 127.0.0.1 or ::1, or add --token-file PATH")


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
    from port_server.system.probe import processes_on_port

    procs = processes_on_port(port)
    who = ", ".join(p.describe() for p in procs) or "another process"
    hint = ("is another port-server running? check with `portctl status`"
            if any("port-server" in p.cmdline or "port_server" in p.cmdline for p in procs)
            else "stop it or pass --port")
    return f"cannot listen on {host}:{port}: the address is in use by {who}; {hint}"


#: How often (seconds) a thread holding the GIL hands it over to one that waits. Python's 5 ms
#: default lets the writer thread, busy with a 10,000-entry import, hold up every request the
#: event loop answers meanwhile by several of those slices each; 0.5 ms keeps /healthz and
#: reads within a few milliseconds at a small cost to the import.
GIL_SWITCH_INTERVAL = 0.0005


def serve(settings: Settings, bind_retry: float = BIND_RETRY_SECONDS) -> int:
    import uvicorn

    sys.setswitchinterval(GIL_SWITCH_INTERVAL)

    from port_server.safe_write import write_file
    from port_server.server.app import create_app
    from port_server.server.hardening import ensure_token_file
    from port_server.server.reaper import Reaper
    from port_server.service import RegistryService
    from port_server.store import open_store
    from port_server.store.urls import redact_url

    sec = settings.security
    check_listen_address(settings.host, sec.token_file)
    if sec.token_file is not None:
        ensure_token_file(sec.token_file)
    lock = take_lock(settings)
    sock = bind_socket(settings.host, settings.port, bind_retry)
    unix = bind_unix_socket(sec.unix_socket, sec.socket_mode, sec.socket_group)
    store = open_store(settings.effective_store_url)
    pidfile = settings.effective_pidfile
    reaper: Reaper | None = None
    proxy: Any = None
    try:
        service = RegistryService(store, settings)
        app = create_app(service, settings)
        write_file(pidfile, f"{os.getpid()}\n{settings.host}:{settings.port}\n",
                   new_mode=0o644, field="pidfile")
        config = uvicorn.Config(
            app, log_level=settings.log_level, access_log=settings.log_level == "debug",
            timeout_keep_alive=sec.keep_alive_timeout, limit_concurrency=sec.max_connections,
            backlog=LISTEN_BACKLOG, h11_max_incomplete_event_size=MAX_HEAD_BYTES,
            server_header=False, http=hardened_protocol(sec.request_timeout),
        )
        server = uvicorn.Server(config)
        # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal to the
        # handler that was installed before it; make that one a clean exit with status 0.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, _exit_cleanly)
        reaper = Reaper(service, sec.reap_interval)
        reaper.start()
        proxy = app.state.proxy
        proxy.resume()
        log.info("port-server %s listening on %s:%s%s, store %s", __version__, settings.host,
                 settings.port, f" and unix:{sec.unix_socket}" if unix else "",
                 redact_url(settings.effective_store_url))
        server.run(sockets=[sock, unix] if unix else [sock])
    finally:
        if reaper is not None:
            reaper.stop()
        if proxy is not None:
            proxy.close()
        if read_pid(pidfile) == os.getpid():
            pidfile.unlink(missing_ok=True)
        store.close()
        sock.close()
        if unix is not None:
            unix.close()
            if sec.unix_socket is not None:
                sec.unix_socket.unlink(missing_ok=True)
        lock.close()
    return 0


def bind_unix_socket(path: Path | None, mode: int, group: str) -> socket.socket | None:
    """Listen on ``path`` (mode ``mode``, group ``group``); None when disabled or when another
    live server owns it (then this one is reachable over TCP only, and says so)."""
    if path is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.exists() or path.is_symlink():
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
            log.warning("unix socket %s is in use by another server; listening on TCP only",
                        path)
            return None
        except OSError:
            path.unlink()  # stale: its server died without cleaning up
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # never world-connectable, not even for a moment
    try:
        sock.bind(str(path))
    except OSError as exc:
        sock.close()
        raise PortServerError(f"cannot listen on unix socket {path}: {exc.strerror}") from None
    finally:
        os.umask(old_umask)
    if group:
        import grp

        try:
            os.chown(path, -1, grp.getgrnam(group).gr_gid)
        except (KeyError, OSError) as exc:
            sock.close()
            raise PortServerError(f"socket_group {group!r}: {exc}") from None
    os.chmod(path, mode)
    sock.listen(LISTEN_BACKLOG)
    sock.set_inheritable(True)
    return sock


#: Request line + headers may take at most this many bytes.
MAX_HEAD_BYTES = 64 * 1024


def peer_protocol(base: type) -> type:
    """``base`` (a uvicorn HTTP protocol) that reads the caller's kernel identity as soon as the
    connection is accepted and puts it in every request's ASGI scope (server/peer.py)."""
    from port_server.server.peer import PEER_EXTENSION, accepted_peer

    class PeerProtocol(base):  # type: ignore[misc, valid-type]
        app: Any  # the ASGI app uvicorn's protocol calls (set by its __init__)

        def connection_made(self, transport: Any) -> None:
            # Before super(): nothing of the request has been read yet, so the client cannot
            # have been answered and gone; a lookup any later may find its socket orphaned.
            peer = accepted_peer(transport.get_extra_info("socket"),
                                 transport.get_extra_info("peername"),
                                 transport.get_extra_info("sockname"))
            super().connection_made(transport)
            inner = self.app

            async def app_with_peer(scope: Any, receive: Any, send: Any) -> None:
                scope.setdefault("extensions", {})[PEER_EXTENSION] = peer
                await inner(scope, receive, send)

            self.app = app_with_peer

    return PeerProtocol


def hardened_protocol(request_timeout: float) -> type:
    """uvicorn's HTTP protocol plus (a) the peer's kernel identity in the ASGI scope and (b) a
    deadline for receiving each request and a cap on its head, so slow or oversized clients
    are cut off instead of holding a connection slot forever (slowloris)."""
    import asyncio

    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # without httptools: h11 (which caps the head itself), no deadline
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return peer_protocol(H11Protocol)

    class HardenedProtocol(peer_protocol(HttpToolsProtocol)):  # type: ignore[misc]
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._head_bytes = 0
            self._in_body = False
            self._deadline: asyncio.TimerHandle | None = None
            self._arm()

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(request_timeout, self._too_slow)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                self.logger.info("closing a connection that took over %.0fs to send a request",
                                 request_timeout)
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            if not self._in_body:
                self._head_bytes += len(data)
                if self._head_bytes > MAX_HEAD_BYTES + 65536:
                    self.transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                                         b"content-length: 0\r\nconnection: close\r\n\r\n")
                    self.transport.close()
                    return
            super().data_received(data)

        def on_headers_complete(self) -> None:
            self._in_body = True
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._head_bytes = 0
            self._in_body = False
            if not self.transport.is_closing():
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HardenedProtocol


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:  # `port-server NAME ...`; otherwise the daemon's flags
        module = importlib.import_module(SUBCOMMANDS[argv[0]][0])
        code: int = module.run(argv[1:])
        return code
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.port is not None and not 0 <= args.port <= 65535:  # 0: any free port
        parser.error(f"--port: {args.port} is out of range; use a number from 1 to 65535")
    logging.basicConfig(level=(args.log_level or "info").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return serve(settings_from_args(args), args.bind_retry)
    except PortServerError as exc:
        print(f"port-server: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # the data dir or a file in it: full disk, read-only, no permission
        where = f" {exc.filename}" if exc.filename else ""
        print(f"port-server: cannot write{where}: {exc.strerror or exc}; free some space, make"
              " it writable, or set PORT_SERVER_HOME to another directory", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
