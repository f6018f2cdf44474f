"""Host options shared by portctl's commands: many hosts can share one registry.

Each host runs its own port-server against the shared database; by default a command sees only
the allocations of the server's own host. ``--host NAME`` and ``--all-hosts`` look further;
changing another host's allocation needs ``--force`` (its port cannot be probed from here).
"""

from __future__ import annotations

import argparse

from port_server.models import Allocation

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ALL_HOSTS = "*"


def add_list_args(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--host", metavar="NAME",
                       help="show this host's allocations (default: the server's own host)")
    group.add_argument("--all-hosts", action="store_true",
                       help="show the allocations of every host sharing the registry")


def add_mutation_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", metavar="NAME",
                   help="act on this host's allocations (default: the server's own host;"
                        " another host needs --force)")
    p.add_argument("--force", action="store_true",
                   help="allow changing a protected allocation, or another host's allocation"
                        " (its port cannot be probed from here)")


def host_filter(args: argparse.Namespace) -> str | None:
    """The ``host`` filter the options ask for: None = the server's own host."""
    if getattr(args, "all_hosts", False):
        return ALL_HOSTS
    host: str | None = getattr(args, "host", None)
    return host


def with_host_column(headers: tuple[str, ...], rows: list[tuple[Any, ...]],
                     allocs: list[Allocation], args: argparse.Namespace
                     ) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """Add a HOST column when the listing may span hosts."""
    if host_filter(args) is None:
        return headers, rows
    return ("HOST", *headers), [(a.host, *row) for a, row in zip(allocs, rows, strict=True)]
