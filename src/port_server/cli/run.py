"""portctl run: allocate a port, run a command on it, and keep the registry in step with the child.

The child gets the port in ``$PORT`` (or ``--env-var``) and in ``{port}`` placeholders of its
arguments. While it runs its pid and command line are recorded on the allocation; signals sent to
portctl are passed on; portctl exits with the child's exit code (128+N when a signal N killed it).
``--ephemeral`` releases the allocation when the child ends, however it ends.
"""

from __future__ import annotations

import argparse

from port_server.cli import output
from port_server.errors import EXIT_USAGE, InvalidInput, NotFound, PortServerError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Sequence
    from typing import Any

    from port_server.cli import Context

# Only argparse at import time: the rest is imported by the command (portctl starts fast).

#: Signals passed on to the child. SIGINT is special: see ``_forwarder``.
FORWARDED = ("SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGINT")
ENV_VAR = r"^[A-Za-z_][A-Za-z0-9_]*$"
CONTROL_CHARS = r"[\x00-\x08\x0a-\x1f]"
MAX_COMMAND = 2048


def register(sub: argparse._SubParsersAction[Any]) -> None:
    from port_server.cli.args import add_filter_args

    p = sub.add_parser(
        "run", help="run a command on its allocated port (PORT=... and {port} in its arguments)",
        description="Allocate a port for app/instance/service (idempotently), run CMD with the port"
                    " in $PORT (or --env-var) and in {port} placeholders of its arguments, record"
                    " the child's pid and command on the allocation while it runs, pass signals"
                    " on, and exit with the child's exit code.",
        epilog="example: portctl run --service web --ephemeral -- python -m http.server {port}."
               " Tools that ignore $PORT (vite, astro, ng serve, storybook, expo, rails,"
               " manage.py runserver, flask, uvicorn, gunicorn, hugo, jekyll, mkdocs, php -S,"
               " http.server...) get the port as they expect it unless the command has {port}"
               " or a port option; see docs/worktrees.md.")
    add_filter_args(p, service_required=True)
    p.add_argument("--type", default="", help="pool to auto-assign from (e.g. web, api)")
    from port_server.cli.metadata import add_http_arg

    add_http_arg(p)
    p.add_argument("--env-var", default="PORT", metavar="NAME",
                   help="environment variable that carries the port (default PORT)")
    p.add_argument("--ephemeral", action="store_true",
                   help="release the port when the command ends (also when it is killed)")
    p.add_argument("--framework", metavar="NAME",
                   help="pass the port the way this tool expects (default: recognised from the"
                        " command, e.g. vite gets --port N --strictPort); none: only $PORT")
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD ...",
                   help="the command to run, after --")
    p.set_defaults(func=cmd_run)


def substitute(argv: Sequence[str], port: int) -> list[str]:
    """Replace ``{port}`` in every argument (plain text replace: other braces stay as they are)."""
    return [arg.replace("{port}", str(port)) for arg in argv]


def command_text(argv: Sequence[str]) -> str:
    """The command line as recorded: one line (a script passed to sh -c may have newlines)."""
    import re
    import shlex

    return re.sub(CONTROL_CHARS, " ", shlex.join(argv))[:MAX_COMMAND]


def _forwarder(child: subprocess.Popen[bytes]) -> Any:
    import contextlib
    import signal
    import sys

    interactive = sys.stdin is not None and sys.stdin.isatty()

    def forward(signum: int, frame: object) -> None:
        # A Ctrl-C at a terminal already reaches the child (same process group): sending it a
        # second SIGINT would interrupt its clean shutdown. Any other sender only reached us.
        if signum == signal.SIGINT and interactive:
            return
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signum)

    return forward


def cmd_run(args: argparse.Namespace, ctx: Context) -> int:
    import os
    import re
    import shlex
    import signal
    import subprocess

    from port_server.cli.allocations import describe, identity_of
    from port_server.models import AllocationRequest

    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        output.error("give the command to run after --, e.g. portctl run --service web --"
                     " python -m http.server {port}")
        return EXIT_USAGE
    if not re.match(ENV_VAR, args.env_var):
        raise InvalidInput(f"--env-var: {args.env_var!r} is not a variable name; use letters,"
                           " digits and _ (e.g. PORT)", field="env_var")
    from pathlib import Path

    from port_server.cli.run_args import port_argv

    cmd, note = port_argv(cmd, args.framework, Path.cwd())
    app, instance, service = identity_of(args)
    from port_server.cli.allocations import worktree_path

    result = ctx.client.allocate(AllocationRequest(
        app=app, instance=instance, service=service, type=args.type, source="run",
        http=args.http, path=worktree_path()))
    alloc = result.allocation
    argv = substitute(cmd, alloc.port)
    if note:
        output.info(f"portctl run: {note.replace('{port}', str(alloc.port))}")
    env = {**os.environ, args.env_var: str(alloc.port)}
    output.info(f"portctl run: {describe(alloc)}: {shlex.join(argv)}")
    if alloc.proxy_url:
        output.info(f"portctl run: {alloc.key} answers at {alloc.proxy_url}")
    try:
        child = subprocess.Popen(argv, env=env)
    except OSError as exc:
        if args.ephemeral:
            _release(ctx, alloc.id)
        raise PortServerError(f"cannot run {argv[0]!r}: {exc.strerror or exc}") from None
    handler = _forwarder(child)
    previous = {}
    for name in FORWARDED:
        signum = getattr(signal, name, None)
        if signum is not None:
            previous[signum] = signal.signal(signum, handler)
    try:
        _record(ctx, alloc.id, {"pid": child.pid, "command": command_text(argv)})
        code = child.wait()
    finally:
        if child.poll() is None:  # portctl itself is going down: do not leave the child behind
            child.terminate()
            child.wait()
        # Clean up while our handlers still hold the signals: a second Ctrl-C or SIGTERM now
        # must not kill portctl before the registry hears that the child is gone.
        if args.ephemeral:
            _release(ctx, alloc.id)
        else:
            _record(ctx, alloc.id, {"pid": 0, "command": ""})
        for signum, old in previous.items():
            signal.signal(signum, old)
    return 128 - code if code < 0 else code


def _record(ctx: Context, alloc_id: int, changes: dict[str, Any]) -> None:
    """Best effort: the child runs whether or not the registry hears about it."""
    try:
        ctx.client.update(alloc_id, changes)
    except PortServerError as exc:
        output.warn(f"could not record the process on allocation {alloc_id}: {exc.message}")


def _release(ctx: Context, alloc_id: int) -> None:
    try:
        ctx.client.release_id(alloc_id)
    except NotFound:
        pass  # someone released it already: the outcome we wanted
    except PortServerError as exc:
        output.warn(f"could not release allocation {alloc_id}: {exc.message}")
