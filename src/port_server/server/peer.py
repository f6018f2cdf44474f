"""Who is on the other end of a connection, as the kernel tells it (never as the client claims).

- Unix socket: ``SO_PEERCRED`` gives the connecting process's uid (read once per connection by
  the daemon's protocol and put in the ASGI scope as ``extensions["port_server.peer"]``).
- Loopback TCP: the client's socket is a row of ``/proc/net/tcp`` (or ``tcp6``) whose local
  address is our peer address and whose remote address is our own; that row names its uid.

Anything else (a remote client, an in-process test client) has no uid.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from port_server.models import Actor

PEER_EXTENSION = "port_server.peer"


@dataclass
class Peer:
    """What the daemon learnt about a connection: one per connection, so a TCP peer's uid is
    looked up once per connection, not once per request. ``resolved`` says whether ``uid`` is
    known to be final."""

    kind: str  # "unix" or "tcp"
    uid: int | None = None
    pid: int | None = None
    resolved: bool = False


def unix_peer(sock: Any) -> Peer:
    """SO_PEERCRED of a connected Unix socket (Linux); uid None where unsupported."""
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, uid, _gid = struct.unpack("3i", raw)
        return Peer("unix", uid=uid, pid=pid, resolved=True)
    except (AttributeError, OSError):
        return Peer("unix", resolved=True)


def _proc_hex(ip: str, port: int) -> str:
    """An address as /proc/net/tcp{,6} writes it: 32-bit words in host (little-endian) order."""
    addr = ipaddress.ip_address(ip)
    packed = addr.packed
    words = b"".join(packed[i:i + 4][::-1] for i in range(0, len(packed), 4))
    return f"{words.hex().upper()}:{port:04X}"


def tcp_peer_uid(client: tuple[str, int], server: tuple[str, int]) -> int | None:
    """The uid owning the client end of the loopback TCP connection client -> server.

    Asks the kernel for that one socket over netlink (sock_diag: an exact hash lookup, ~20 us);
    reading /proc/net/tcp instead walks every connection on the machine (1-8 ms), so it is only
    the fallback where netlink is unavailable.
    """
    try:
        client_ip = ipaddress.ip_address(client[0])
        server_ip = ipaddress.ip_address(server[0])
    except ValueError:
        return None
    if not client_ip.is_loopback and not (
            isinstance(client_ip, ipaddress.IPv6Address) and client_ip.ipv4_mapped is not None
            and client_ip.ipv4_mapped.is_loopback):
        return None  # only this machine's own processes appear in our /proc
    from port_server.scanners.sock_diag import connection_uid

    try:
        return connection_uid((str(client_ip), int(client[1])), (str(server_ip), int(server[1])))
    except OSError:
        pass
    table = "/proc/net/tcp6" if client_ip.version == 6 else "/proc/net/tcp"
    local = _proc_hex(str(client_ip), int(client[1]))
    remote = _proc_hex(str(server_ip), int(server[1]))
    try:
        with open(table, encoding="ascii") as fh:
            next(fh, None)
            for line in fh:
                fields = line.split()
                if len(fields) > 7 and fields[1] == local and fields[2] == remote:
                    return int(fields[7])
    except OSError:
        return None
    return None


@lru_cache(maxsize=256)
def user_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid{uid}"


def caller_of(scope: dict[str, Any], token_ok: bool) -> Actor:
    """The Actor for a request: its kernel uid when known; a token holder is an admin."""
    peer = (scope.get("extensions") or {}).get(PEER_EXTENSION)
    uid: int | None = None
    via = "tcp"
    if isinstance(peer, Peer) and peer.resolved:
        uid, via = peer.uid, peer.kind
    else:
        client, server = scope.get("client"), scope.get("server")
        if client and server and server[1] is not None:
            uid = tcp_peer_uid((str(client[0]), int(client[1])),
                               (str(server[0]), int(server[1])))
        if isinstance(peer, Peer):  # remember it for the connection's next requests
            peer.uid, peer.resolved = uid, True
    if uid is not None:
        return Actor(name=user_name(uid), uid=uid, via=via)
    if token_ok:
        return Actor(name="token", uid=None, admin=True, via="token")
    return Actor(name="unknown", uid=None, via=via)
