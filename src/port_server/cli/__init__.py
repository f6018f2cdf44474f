"""``portctl``: the command-line client. One module per command group; this file only wires them.

argparse rather than click: click adds ~50 ms of import time here, and portctl is started thousands
of times by scripts (the target is <= 5x a bare interpreter start). Errors become exit codes in one
place, ``main``: 0 success, 1 domain error (or "taken" for check), 2 usage, 3 server unreachable.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from port_server import __version__
from port_server.errors import EXIT_ERROR, EXIT_USAGE, PortServerError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from port_server.client import RegistryClient

#: Command modules, in the order their commands appear in --help. Each has ``register(sub)``.
COMMAND_MODULES = ("allocations", "metadata", "transfer", "run", "daemon_ctl", "sync", "scan",
                   "project", "project_up", "prune", "doctor", "skill", "completion",
                   "mcp_cmd", "security", "proxy")

#: Which module registers each command, so that running one imports only its module (start-up
#: time: a module's imports are paid by every command). A command missing here still works:
#: every module is then imported.
COMMAND_INDEX = {
    "allocate": "allocations", "list": "allocations", "release": "allocations",
    "check": "allocations",
    "update": "metadata", "suggest": "metadata", "pools": "metadata",
    "import": "transfer", "export": "transfer",
    "health": "daemon_ctl", "start": "daemon_ctl", "stop": "daemon_ctl",
    "restart": "daemon_ctl", "status": "daemon_ctl", "version": "daemon_ctl",
    "sync": "sync", "nginx": "sync",
    "scan": "scan", "who": "scan", "adopt": "scan",
    "scan-project": "project", "register": "project", "env": "project",
    "compose-ports": "project", "up": "project_up", "down": "prune", "prune": "prune",
    "run": "run", "doctor": "doctor", "skill": "skill", "completion": "completion",
    "__complete": "completion", "mcp": "mcp_cmd",
    "renew": "security", "gc": "security", "log": "security", "whoami": "security",
    "proxy": "proxy",
}

_GLOBAL_OPTIONS_WITH_VALUE = ("--addr", "--token-file", "--ca-file")

#: The end of portctl's and portman's --help: exit codes and where the server is looked for.
EPILOG = ("Exit codes: 0 ok, 1 error (or port taken for check), 2 usage, 3 server unreachable. "
          "Server address, first found: --addr, $PORT_SERVER_ADDR, the config file's listen, "
          "127.0.0.1:51234; without --addr or $PORT_SERVER_ADDR the server's Unix socket is "
          "tried first. `portctl status` shows which one is used.")
ADDR_HELP = ("server address HOST:PORT or unix:PATH (default $PORT_SERVER_ADDR, the config "
             "file's listen, 127.0.0.1:51234)")


def command_in(argv: Sequence[str]) -> str | None:
    """The command word of ``argv`` (the first positional after global options)."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word in _GLOBAL_OPTIONS_WITH_VALUE:
            skip = True
        elif not word.startswith("-"):
            return word
    return None


class Context:
    """What every command gets: the server address and a lazily made client."""

    def __init__(self, addr: str | None, token_file: str | None = None,
                 ca_file: str | None = None, client: RegistryClient | None = None) -> None:
        self.addr = addr
        self.token_file = token_file
        self.ca_file = ca_file
        #: A client given by the caller (tests: one over the app in process) is not closed here.
        self._client: RegistryClient | None = client
        self._owned = client is None

    @property
    def client(self) -> RegistryClient:
        if self._client is None:
            from port_server.client import RegistryClient

            self._client = RegistryClient(self.addr, token_file=self.token_file,
                                          ca_file=self.ca_file)
        return self._client

    def close(self) -> None:
        if self._client is not None and self._owned:
            self._client.close()


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        """One line, the fix, exit 2 (argparse's default prints the whole usage block)."""
        self.exit(EXIT_USAGE, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser(prog: str = "portctl",
                 argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; given ``argv``, only the module owning its command is imported."""
    parser = _Parser(
        prog=prog,
        description="Allocate host ports that never collide, from the port-server registry.",
        epilog=EPILOG,
    )
    parser.add_argument("--addr", help=ADDR_HELP)
    parser.add_argument("--token-file", help="file holding the server's bearer token (default"
                                             " $PORT_SERVER_TOKEN, $PORT_SERVER_TOKEN_FILE)")
    parser.add_argument("--ca-file", help="CA certificates (PEM) to verify an https:// server"
                                          " with (default $PORT_SERVER_CA_FILE, else the"
                                          " system's)")
    parser.add_argument("--version", action="version", version=f"portctl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    command = command_in(argv) if argv is not None else None
    owner = COMMAND_INDEX.get(command or "")
    for name in (owner,) if owner else COMMAND_MODULES:
        importlib.import_module(f"port_server.cli.{name}").register(sub)
    return parser


def run_parser(parser: argparse.ArgumentParser, argv: Sequence[str] | None,
               client: RegistryClient | None = None) -> int:
    """Parse ``argv`` and run the command: the one place errors become exit codes. (Not named
    ``run``: importing the submodule ``cli.run`` would rebind that name in this package.)"""
    from port_server.cli import output

    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    ctx = Context(args.addr, getattr(args, "token_file", None), getattr(args, "ca_file", None),
                  client)
    try:
        if args.addr is not None:  # a usage error now, whether or not the command connects
            from port_server.address import parse_addr

            parse_addr(args.addr)
        code: int | None = args.func(args, ctx)
        return code or 0
    except PortServerError as exc:
        output.error(exc.message)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `portctl list | head`
        sys.stderr.close()
        return 0
    except OSError as exc:  # the file system or network said no: one line, not a traceback
        output.error(f"{exc.filename + ': ' if exc.filename else ''}{exc.strerror or exc}")
        return EXIT_ERROR
    finally:
        ctx.close()


def main(argv: Sequence[str] | None = None, client: RegistryClient | None = None) -> int:
    """portctl; ``client`` replaces the one made from --addr (tests run the CLI in process)."""
    args = list(sys.argv[1:] if argv is None else argv)
    return run_parser(build_parser(argv=args), args, client)


if __name__ == "__main__":
    sys.exit(main())
