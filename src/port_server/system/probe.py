"""The OS side: is a port bound on this machine, by whom, and what is the kernel's ephemeral range.

Binding is the cheapest exact test: the kernel refuses a bind to the wildcard address while any
socket (any address, listening or bound) holds the port. We try TCP and UDP on IPv4 and IPv6
without SO_REUSEADDR, so a port in TIME_WAIT also counts as busy (conservative, never wrong).
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path

from port_server.models import ProcessInfo

_FAMILIES: list[tuple[socket.AddressFamily, str]] = [(socket.AF_INET, "0.0.0.0")]
if socket.has_ipv6:
    _FAMILIES.append((socket.AF_INET6, "::"))


def _bind_fails(
    family: socket.AddressFamily, addr: str, kind: socket.SocketKind, port: int
) -> bool:
    try:
        sock = socket.socket(family, kind)
    except OSError:  # IPv6 disabled in this kernel: nothing can be bound there
        return False
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((addr, port))
        return False
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return True
        if exc.errno == errno.EACCES:  # privileged port as non-root: ask the kernel's tables
            return port in listening_ports()
        if exc.errno == errno.EADDRNOTAVAIL:
            return False
        raise
    finally:
        sock.close()


def is_bound(port: int) -> bool:
    """True when any process holds ``port`` over TCP or UDP, IPv4 or IPv6, on any address."""
    for family, addr in _FAMILIES:
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            if _bind_fails(family, addr, kind, port):
                return True
    return False




def listening_ports() -> set[int]:
    """Ports in LISTEN (TCP) or bound (UDP) state (the one socket reader, ``sockets``)."""
    from port_server.system.sockets import read_sockets

    return {s.port for s in read_sockets()}


def ephemeral_range() -> tuple[int, int] | None:
    """The kernel's ip_local_port_range, or None when it cannot be read (not Linux)."""
    try:
        lo, hi = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return None


def processes_on_port(port: int) -> tuple[ProcessInfo, ...]:
    """Who holds ``port`` (listening TCP or bound UDP), as far as this user may see."""
    from port_server.system.sockets import read_sockets, socket_owners

    held = [s for s in read_sockets() if s.port == port]
    owners, _ = socket_owners({s.inode for s in held if s.inode})
    pids: dict[int | None, None] = {}
    for s in held:
        holders: list[int | None] = list(owners.get(s.inode, ())) or [s.pid]
        for pid in holders:
            pids.setdefault(pid)
    return tuple(describe_process(pid) for pid in pids)


def describe_process(pid: int | None) -> ProcessInfo:
    if pid is None:
        return ProcessInfo(pid=None)
    import psutil

    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            name = proc.name()
            try:
                user = proc.username()
            except (psutil.AccessDenied, KeyError):
                user = ""
            try:
                cmdline = " ".join(proc.cmdline())
            except psutil.AccessDenied:
                cmdline = ""
        return ProcessInfo(pid=pid, name=name, user=user, cmdline=cmdline)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return ProcessInfo(pid=pid)
