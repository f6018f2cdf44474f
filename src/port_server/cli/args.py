"""Argument helpers several portctl command modules share: argparse types and flag groups."""

from __future__ import annotations

import argparse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


def port_arg(text: str) -> int:
    """argparse type for ports: a clear message instead of argparse's generic one."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port; use a number from 1 to 65535"
                                         ) from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is out of range; use a number from 1 to 65535")
    return value


def positive_int_arg(what: str, hint: str = "") -> Callable[[str], int]:
    """An argparse type for ids (allocation ids, pids): a whole number from 1 up."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what} (a number)") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{value} is not {what}{hint}")
        return value
    return parse


id_arg = positive_int_arg("an allocation id", " (ids start at 1)")


def add_filter_args(p: argparse.ArgumentParser, service_required: bool = False) -> None:
    p.add_argument("--app", help="application name")
    p.add_argument("--instance", help="instance (worktree, branch, environment)")
    p.add_argument("--service", required=service_required, help="service name")


def duration_arg(text: str) -> str:
    from port_server.models import parse_duration

    try:
        parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[-1]) from None
    return text


pid_arg = positive_int_arg("a process id")


def lease_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The allocate request fields this module's flags set (empty when none were given)."""
    fields: dict[str, Any] = {}
    if getattr(args, "protect", False):
        fields["protected"] = True
    if getattr(args, "ttl", None):
        fields["ttl"] = args.ttl
    if getattr(args, "pid", None):
        fields["pid"] = args.pid
    return fields


def add_lease_args(allocate: argparse.ArgumentParser) -> None:
    """allocate's --protect, --ttl and --pid (called by cli.allocations)."""
    allocate.add_argument("--protect", action="store_true",
                          help="protect it: release/update then need --force, never reclaimed"
                               " (environment=production is protected by default)")
    allocate.add_argument("--ttl", type=duration_arg,
                          help="lease: release it automatically after this long (90s, 15m, 2h,"
                               " 7d); extend with `portctl renew`")
    allocate.add_argument("--pid", type=pid_arg,
                          help="lease: release it when this process exits")
