"""The OS half of the live scan: which sockets listen, and which processes hold them.

Sockets come from the kernel over netlink (sock_diag.py, the fastest), else from the text tables
/proc/net/{tcp,tcp6,udp,udp6}, else (off Linux) from psutil. Socket inodes are mapped to
processes through /proc/PID/fd only for the sockets whose holder is actually needed, which is what
keeps a scan of 1,000 sockets fast: ``psutil.net_connections`` always resolves every process.
As a non-root user the kernel hides other users' fds: those sockets keep their user (the socket
table has the uid) and are marked ``hidden`` instead of failing.
"""

from __future__ import annotations

import os
import socket
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from port_server.models import Listener
from port_server.system import sock_diag
from port_server.system.users import user_name

PROC = Path("/proc")
MAX_CMDLINE = 2048
_TABLES = (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6),
           ("udp", socket.AF_INET), ("udp6", socket.AF_INET6))
_TCP_LISTEN = "0A"
_UDP_UNCONNECTED = "07"

Key = tuple[int, str]  # (port, protocol)


@dataclass(frozen=True)
class RawSocket:
    """One listening/bound socket as the kernel lists it (or psutil off Linux)."""

    protocol: str
    address: str
    port: int
    inode: int
    uid: int | None
    pid: int | None = None


def _address(hex_addr: str, family: socket.AddressFamily) -> str:
    raw = bytes.fromhex(hex_addr)
    # The kernel prints each 32-bit word in host (little-endian) order.
    packed = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(family, packed)


def parse_proc_net(text: str, protocol: str, family: socket.AddressFamily) -> list[RawSocket]:
    """Listening TCP / unconnected (bound) UDP sockets from one /proc/net table."""
    want = _TCP_LISTEN if protocol == "tcp" else _UDP_UNCONNECTED
    out = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 10 or parts[3] != want:
            continue
        hex_addr, _, hex_port = parts[1].partition(":")
        out.append(RawSocket(protocol, _address(hex_addr, family), int(hex_port, 16),
                             int(parts[9]), int(parts[7])))
    return out


def read_sockets(proc: Path = PROC) -> list[RawSocket]:
    """Every listening TCP and bound UDP socket, IPv4 and IPv6: netlink, else /proc/net, else
    psutil (not Linux)."""
    if proc == PROC and hasattr(socket, "AF_NETLINK"):
        try:
            return [RawSocket(*row) for row in sock_diag.listening()]
        except OSError:  # netlink refused (a sandbox, an old kernel): read the text tables
            pass
    return read_proc_net(proc)


def read_proc_net(proc: Path = PROC) -> list[RawSocket]:
    if not (proc / "net" / "tcp").exists():
        return _sockets_from_psutil()
    out: list[RawSocket] = []
    for table, family in _TABLES:
        try:
            text = (proc / "net" / table).read_text()
        except OSError:  # IPv6 disabled: no tcp6/udp6 table
            continue
        out.extend(parse_proc_net(text, table[:3], family))
    return out


def _sockets_from_psutil() -> list[RawSocket]:
    import psutil

    out = []
    for conn in psutil.net_connections(kind="inet"):
        if not conn.laddr:
            continue
        tcp = conn.type == socket.SOCK_STREAM
        if (tcp and conn.status != psutil.CONN_LISTEN) or (not tcp and conn.raddr):
            continue
        out.append(RawSocket("tcp" if tcp else "udp", conn.laddr.ip, conn.laddr.port, 0, None,
                             conn.pid))
    return out


def socket_owners(inodes: set[int], proc: Path = PROC) -> tuple[dict[int, list[int]], bool]:
    """inode -> pids holding it, and whether some processes' fds were hidden from us."""
    owners: dict[int, list[int]] = defaultdict(list)
    denied = False
    if not inodes:
        return owners, denied
    with os.scandir(proc) as entries:
        pids = [e.name for e in entries if e.name.isdigit()]
    for pid in pids:
        try:
            with os.scandir(f"{proc}/{pid}/fd") as fds:
                for fd in fds:
                    try:
                        link = os.readlink(fd.path)
                    except OSError:
                        continue
                    if link.startswith("socket:[") and (ino := int(link[8:-1])) in inodes:
                        owners[ino].append(int(pid))
        except PermissionError:
            denied = True
        except OSError:  # the process exited meanwhile
            continue
    return owners, denied


@dataclass
class _Facts:
    name: str = ""
    user: str = ""
    cmdline: str = ""
    ppid: int = 0
    start: float = 0.0
    hidden: list[str] = field(default_factory=list)


class _ProcessReader:
    """psutil per process, cached for one scan (a server with many sockets is read once)."""

    def __init__(self) -> None:
        self.cache: dict[int, _Facts | None] = {}
        self.lineages: dict[int, tuple[tuple[int, float], ...]] = {}

    def facts(self, pid: int) -> _Facts | None:
        if pid not in self.cache:
            self.cache[pid] = self._read(pid)
        return self.cache[pid]

    @staticmethod
    def _read(pid: int) -> _Facts | None:
        import psutil

        try:
            proc = psutil.Process(pid)
            with proc.oneshot():
                facts = _Facts(name=proc.name(), ppid=proc.ppid(), start=proc.create_time())
                try:
                    facts.user = proc.username()
                except (psutil.AccessDenied, KeyError):
                    facts.hidden.append("user")
                try:
                    facts.cmdline = " ".join(proc.cmdline())[:MAX_CMDLINE]
                except psutil.AccessDenied:
                    facts.hidden.append("cmdline")
            return facts
        except psutil.NoSuchProcess:
            return None
        except psutil.AccessDenied:
            return _Facts(hidden=["name", "user", "cmdline"])

    def lineage(self, pid: int) -> tuple[tuple[int, float], ...]:
        if pid not in self.lineages:
            chain: list[tuple[int, float]] = []
            step = pid
            while step > 0 and len(chain) < 64:
                facts = self.facts(step)
                if facts is None:
                    break
                chain.append((step, facts.start))
                step = facts.ppid
            self.lineages[pid] = tuple(chain)
        return self.lineages[pid]


def _outermost(pids: Sequence[int], reader: _ProcessReader) -> int:
    """The holder whose parent does not hold the socket too (a master, not its workers)."""
    held = set(pids)
    roots = [p for p in pids if (f := reader.facts(p)) is None or f.ppid not in held]
    return min(roots or pids)


def build_listeners(sockets: Iterable[RawSocket], owners: dict[int, list[int]], denied: bool,
                    describe: set[Key] | None) -> list[Listener]:
    """One Listener per protocol/address/port; ``describe`` None means every one of them."""
    grouped: dict[tuple[str, str, int], list[RawSocket]] = defaultdict(list)
    for sock in sockets:
        grouped[(sock.protocol, sock.address, sock.port)].append(sock)
    reader = _ProcessReader()
    out = []
    for (protocol, address, port), socks in sorted(grouped.items(), key=lambda kv: kv[0][::-1]):
        uid = next((s.uid for s in socks if s.uid is not None), None)
        user = user_name(uid) if uid is not None else ""
        if describe is not None and (port, protocol) not in describe:
            out.append(Listener(protocol, address, port, user=user))
            continue
        pids = sorted({p for s in socks for p in ([s.pid] if s.pid else owners.get(s.inode, []))})
        if not pids:
            # Hidden fds (non-root) or a socket no process holds (kernel, other pid namespace).
            out.append(Listener(protocol, address, port, user=user,
                                hidden=("pid", "name", "cmdline") if denied else ()))
            continue
        pid = _outermost(pids, reader)
        facts = reader.facts(pid) or _Facts(hidden=["name", "cmdline"])
        out.append(Listener(protocol, address, port, pid=pid, pids=tuple(pids), name=facts.name,
                            user=facts.user or user, cmdline=facts.cmdline,
                            lineage=reader.lineage(pid), hidden=tuple(facts.hidden)))
    return out
