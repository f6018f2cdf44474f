"""portctl mcp: serve the registry as MCP tools over stdio (needs the ``mcp`` extra)."""

from __future__ import annotations

import argparse

from port_server.errors import PortServerError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from port_server.cli import Context


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "mcp", help="serve MCP over stdio (tools: allocate, release, list_allocations, check_port,"
                    " scan, scan_project, register, write_env)",
        description="Speak the Model Context Protocol on stdin/stdout so an MCP client (Claude"
                    " Code, Codex, an IDE) can allocate ports as native tools. Talks to the"
                    " server at --addr / $PORT_SERVER_ADDR. Needs the mcp extra:"
                    " pip install '.[mcp]' in the port-server clone.")
    p.set_defaults(func=cmd_mcp)


def cmd_mcp(args: argparse.Namespace, ctx: Context) -> int:
    try:
        import mcp  # noqa: F401
    except ImportError:
        raise PortServerError("portctl mcp needs the MCP SDK: pip install '.[mcp]' in the"
                              " port-server clone") from None
    from port_server.mcp_server import main

    return main(ctx.addr)
