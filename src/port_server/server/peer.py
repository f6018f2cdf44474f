"""Who is on the other end of a connection, as the kernel tells it (never as the client claims).

The identity is read once, when the connection is accepted (``accepted_peer``, called by the
daemon's protocol), and kept on the connection (the ASGI scope's
``extensions["port_server.peer"]``); nothing looks it up again later:

- Unix socket: ``SO_PEERCRED`` (the kernel recorded the uid at connect time).
- Loopback TCP: the client's own socket, found by the connection's four addresses over netlink
  (sock_diag), ``/proc/net/tcp{,6}`` as the fallback.

A TCP answer is trusted only while a process still holds the client's socket. A client that
sends and closes at once leaves an orphaned (inode 0) or time-wait socket whose recorded uid is
0: taking that as root let any local user act as root. Such an answer, no match at all, a remote
client, or an in-process caller is an *unknown caller* (uid None): it may read, and may not
change what an OS user owns or anything protected (``access.py``).
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass
from typing import Any

from port_server.models import Actor
from port_server.system.users import user_name

PEER_EXTENSION = "port_server.peer"
TCP_TIME_WAIT = 6
PROC_TABLES = {4: "/proc/net/tcp", 6: "/proc/net/tcp6"}


@dataclass(frozen=True)
class Peer:
    """What the kernel said about a connection when it was accepted. ``uid`` None: unknown."""

    kind: str  # "unix" or "tcp"
    uid: int | None = None
    pid: int | None = None


def trusted_uid(state: int, uid: int, inode: int) -> int | None:
    """The uid of a client socket, or None when the answer does not identify anyone: no process
    holds the socket any more (inode 0: closed, orphaned) or it is in time-wait."""
    if inode == 0 or state == TCP_TIME_WAIT:
        return None
    return uid


def unix_peer(sock: Any) -> Peer:
    """SO_PEERCRED of a connected Unix socket (Linux); uid None where unsupported."""
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, uid, _gid = struct.unpack("3i", raw)
        return Peer("unix", uid=uid, pid=pid)
    except (AttributeError, OSError):
        return Peer("unix")


def accepted_peer(sock: Any, peername: Any, sockname: Any) -> Peer:
    """The identity of a just-accepted connection (the daemon's protocol calls this in
    ``connection_made``, before reading a byte of the request)."""
    if sock is not None and getattr(sock, "family", None) == socket.AF_UNIX:
        return unix_peer(sock)
    if not (isinstance(peername, tuple) and isinstance(sockname, tuple)
            and len(peername) >= 2 and len(sockname) >= 2):
        return Peer("tcp")
    try:
        client = (str(peername[0]), int(peername[1]))
        server = (str(sockname[0]), int(sockname[1]))
        return Peer("tcp", uid=tcp_peer_uid(client, server))
    except Exception:  # any surprise in the lookup: unknown, never root
        return Peer("tcp")


def _proc_hex(ip: str, port: int) -> str:
    """An address as /proc/net/tcp{,6} writes it: 32-bit words in host (little-endian) order."""
    addr = ipaddress.ip_address(ip)
    packed = addr.packed
    words = b"".join(packed[i:i + 4][::-1] for i in range(0, len(packed), 4))
    return f"{words.hex().upper()}:{port:04X}"


def proc_peer_uid(table: str, client: tuple[str, int], server: tuple[str, int]) -> int | None:
    """The trusted uid of the socket client -> server from a /proc/net/tcp-format ``table``."""
    local, remote = _proc_hex(*client), _proc_hex(*server)
    try:
        with open(table, encoding="ascii") as fh:
            next(fh, None)
            for line in fh:
                fields = line.split()
                if len(fields) > 9 and fields[1] == local and fields[2] == remote:
                    return trusted_uid(int(fields[3], 16), int(fields[7]), int(fields[9]))
    except (OSError, ValueError):
        return None
    return None


def _candidates(client: ipaddress.IPv4Address | ipaddress.IPv6Address,
                server: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[tuple[str, str]]:
    """Address pairs the client's socket may have: an IPv4 client of a dual-stack listener shows
    up as ::ffff:127.0.0.1 here, while its own socket is AF_INET."""
    pairs = [(str(client), str(server))]
    if isinstance(client, ipaddress.IPv6Address) and client.ipv4_mapped is not None:
        mapped = server.ipv4_mapped if isinstance(server, ipaddress.IPv6Address) else server
        if mapped is not None:
            pairs.insert(0, (str(client.ipv4_mapped), str(mapped)))
    return pairs


def tcp_peer_uid(client: tuple[str, int], server: tuple[str, int]) -> int | None:
    """The uid owning the client end of the loopback TCP connection client -> server, or None
    when the kernel cannot vouch for one (see ``trusted_uid``).

    Asks the kernel for that one socket over netlink (sock_diag: an exact hash lookup, ~20 us);
    reading /proc/net/tcp instead walks every connection on the machine (1-8 ms), so it is only
    the fallback where netlink is unavailable.
    """
    try:
        client_ip = ipaddress.ip_address(client[0])
        server_ip = ipaddress.ip_address(server[0])
    except ValueError:
        return None
    plain = (client_ip.ipv4_mapped or client_ip) if isinstance(
        client_ip, ipaddress.IPv6Address) else client_ip
    if not plain.is_loopback:
        return None  # only this machine's own processes appear in our socket tables
    from port_server.system.sock_diag import connection_owner

    for client_addr, server_addr in _candidates(client_ip, server_ip):
        ends = (client_addr, int(client[1])), (server_addr, int(server[1]))
        try:
            owner = connection_owner(*ends)
        except OSError:
            version = ipaddress.ip_address(client_addr).version
            uid = proc_peer_uid(PROC_TABLES[version], *ends)
        else:
            uid = trusted_uid(*owner) if owner is not None else None
        if uid is not None:
            return uid
    return None




def caller_of(scope: dict[str, Any], token_ok: bool) -> Actor:
    """The Actor for a request, from the identity its connection was accepted with.

    No lookup happens here: by the time a request is handled the client may have closed its
    socket, and a late answer would name root. A connection without a captured identity (an
    in-process client, a server not wired through the daemon) is unknown, or a token holder.
    """
    peer = (scope.get("extensions") or {}).get(PEER_EXTENSION)
    if isinstance(peer, Peer) and peer.uid is not None:
        return Actor(name=user_name(peer.uid), uid=peer.uid, via=peer.kind)
    if token_ok:
        return Actor(name="token", uid=None, admin=True, via="token")
    return Actor(name="unknown", uid=None, via=peer.kind if isinstance(peer, Peer) else "tcp")
