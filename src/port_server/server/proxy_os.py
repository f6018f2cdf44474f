"""What the proxy manager asks of the machine: loopback addresses, free ports and worktree
folders (whether a process runs: ``leases.process_alive``). Apart, so that ``proxy.py`` stays
about Caddy."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

from port_server.models import Allocation


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])




def main_worktree_checker() -> Callable[[Allocation], bool]:
    """Was an allocation made from a main worktree (its recorded ``path`` holds a ``.git``
    folder, not a linked worktree's ``.git`` file)? One look per folder and table build."""
    seen: dict[str, bool] = {}

    def is_main(alloc: Allocation) -> bool:
        if not alloc.path:
            return False
        if alloc.path not in seen:
            seen[alloc.path] = os.path.isdir(os.path.join(alloc.path, ".git"))
        return seen[alloc.path]

    return is_main
