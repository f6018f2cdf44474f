"""Listening TCP and bound UDP sockets from the kernel over netlink (sock_diag), as `ss` does.

Asked for LISTEN sockets only, the kernel walks just its listening hash; /proc/net/tcp always walks
the whole established hash too, which costs ~10-40 ms here even on an idle machine (measured in
bench/bench_scan.py). Linux only; any failure raises OSError so the caller can fall back.
"""

from __future__ import annotations

import socket
import struct
from typing import NamedTuple

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST_DUMP = 0x301  # NLM_F_REQUEST | NLM_F_ROOT | NLM_F_MATCH
NLMSG_ERROR = 2
NLMSG_DONE = 3
TCP_LISTEN = 10
TCP_CLOSE = 7  # an unconnected UDP socket
_HEADER = struct.Struct("=IHHII")  # struct nlmsghdr
# struct inet_diag_req_v2: family, protocol, ext, pad, states, then a zeroed inet_diag_sockid.
_REQUEST = struct.Struct("=BBBBI48x")
# struct inet_diag_msg: family, state, timer, retrans, then inet_diag_sockid (sport, dport
# big-endian, src[16], dst[16], if, cookie[2]), then expires, rqueue, wqueue, uid, inode.
_SPORT_OFFSET, _SRC_OFFSET, _UID_OFFSET = 4, 8, 64

Row = tuple[str, str, int, int, int]  # (protocol, address, port, inode, uid)


def dump(family: socket.AddressFamily, protocol: str) -> list[Row]:
    """Every listening (TCP) or unconnected (UDP) socket of one family and protocol."""
    proto, state = (socket.IPPROTO_TCP, TCP_LISTEN) if protocol == "tcp" else (
        socket.IPPROTO_UDP, TCP_CLOSE)
    request = _REQUEST.pack(family, proto, 0, 0, 1 << state)
    addr_len = 4 if family == socket.AF_INET else 16
    out: list[Row] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG) as nl:
        nl.settimeout(5.0)
        nl.sendall(_HEADER.pack(_HEADER.size + len(request), SOCK_DIAG_BY_FAMILY,
                                NLM_F_REQUEST_DUMP, 1, 0) + request)
        while True:
            data = nl.recv(1 << 20)
            if not data:
                raise OSError("netlink closed before the end of the dump")
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, kind = _HEADER.unpack_from(data, offset)[:2]
                if kind == NLMSG_DONE:
                    return out
                if kind == NLMSG_ERROR or length < _HEADER.size:
                    raise OSError("sock_diag request refused by the kernel")
                body = offset + _HEADER.size
                port = struct.unpack_from(">H", data, body + _SPORT_OFFSET)[0]
                src = data[body + _SRC_OFFSET: body + _SRC_OFFSET + addr_len]
                uid, inode = struct.unpack_from("=II", data, body + _UID_OFFSET)
                out.append((protocol, socket.inet_ntop(family, src), port, inode, uid))
                offset += (length + 3) & ~3


def listening() -> list[Row]:
    rows: list[Row] = []
    for family in (socket.AF_INET, socket.AF_INET6):
        for protocol in ("tcp", "udp"):
            try:
                rows.extend(dump(family, protocol))
            except OSError:
                if family == socket.AF_INET6 and not socket.has_ipv6:
                    continue
                raise
    return rows


_NO_COOKIE = 0xFFFFFFFF
# struct inet_diag_req_v2 with a filled-in inet_diag_sockid: sport, dport (big-endian), src[16],
# dst[16], if, cookie[2] (INET_DIAG_NOCOOKIE: match by addresses alone).
_STATE_OFFSET = 1


class SocketOwner(NamedTuple):
    """What the kernel says about one TCP socket: its state (TCP_ESTABLISHED = 1, ...), the uid
    recorded on it and the inode of its file (0 once no process holds it: closed, time-wait)."""

    state: int
    uid: int
    inode: int


def connection_owner(local: tuple[str, int], remote: tuple[str, int]) -> SocketOwner | None:
    """The TCP socket whose local end is ``local`` and remote end ``remote``, as the kernel has it.

    One exact lookup in the kernel's socket hash (no table walk), so it costs the same however
    many connections the machine has. None when there is no such socket; OSError when netlink
    is unavailable. Whether the answer can be trusted as an identity is the caller's decision
    (``server/peer.py``): an orphaned or time-wait socket reports uid 0.
    """
    family = socket.AF_INET6 if ":" in local[0] else socket.AF_INET
    src = socket.inet_pton(family, local[0]).ljust(16, b"\0")
    dst = socket.inet_pton(family, remote[0]).ljust(16, b"\0")
    request = (struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF)
               + struct.pack(">HH", local[1], remote[1]) + src + dst
               + struct.pack("=III", 0, _NO_COOKIE, _NO_COOKIE))
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG) as nl:
        nl.settimeout(2.0)
        nl.sendall(_HEADER.pack(_HEADER.size + len(request), SOCK_DIAG_BY_FAMILY, 1, 1, 0)
                   + request)
        data = nl.recv(65536)
    if len(data) < _HEADER.size:
        raise OSError("short netlink answer")
    length, kind = _HEADER.unpack_from(data, 0)[:2]
    if kind == NLMSG_ERROR:
        return None  # ENOENT: no such connection (it closed, or it is not on this machine)
    if kind != SOCK_DIAG_BY_FAMILY or length < _HEADER.size + _UID_OFFSET + 8 or len(data) < length:
        raise OSError("unexpected netlink answer")
    state = data[_HEADER.size + _STATE_OFFSET]
    uid, inode = struct.unpack_from("=II", data, _HEADER.size + _UID_OFFSET)
    return SocketOwner(int(state), int(uid), int(inode))
