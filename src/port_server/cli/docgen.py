"""docs/cli.md, written from portctl's and portman's own argparse parsers so it never drifts.

    python -m port_server.cli.docgen > docs/cli.md     # regenerate
    python -m port_server.cli.docgen --check docs/cli.md   # exit 1 when the file is stale

Hidden commands (``__complete``, for the shells) are left out. Usage lines are laid out at a fixed
width, so the output does not depend on the terminal.
"""

from __future__ import annotations

import argparse
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

WIDTH = 96
HEADER = """# Command-line reference

Generated from the programs' own parsers (`python -m port_server.cli.docgen > docs/cli.md`);
a test fails when this file and the parsers disagree. Every command also has `--help`.

Exit codes: **0** success, **1** an error (or "taken" for `check`), **2** a usage error (bad flag
or value), **3** the server is unreachable.
"""


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.HelpFormatter(prog, width=WIDTH)


def _subcommands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str,
                                                                   argparse.ArgumentParser]]:
    """(name, one-line help, parser) of each visible subcommand, in --help order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                if not name.startswith("__"):
                    yield name, str(helps.get(name, "")), sub


def _flags(action: argparse.Action, formatter: argparse.HelpFormatter) -> str:
    if not action.option_strings:
        return f"`{formatter._metavar_formatter(action, action.dest)(1)[0]}`"
    if action.nargs == 0:
        return ", ".join(f"`{o}`" for o in action.option_strings)
    metavar = formatter._format_args(action, action.dest.upper())
    return ", ".join(f"`{o} {metavar}`" for o in action.option_strings)


def _options(parser: argparse.ArgumentParser) -> list[str]:
    formatter = _formatter(parser.prog)
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
            continue
        if action.help == argparse.SUPPRESS:
            continue
        text = formatter._expand_help(action) if action.help else ""
        if action.required and action.option_strings:
            text = f"(required) {text}"
        rows.append(f"| {_flags(action, formatter)} | {text.replace('|', '&#124;')} |")
    if not rows:
        return []
    return ["| argument | meaning |", "| --- | --- |", *rows, ""]


def _command(parser: argparse.ArgumentParser, help_line: str, level: int) -> list[str]:
    parser.formatter_class = _formatter
    lines = [f"{'#' * level} {parser.prog}", ""]
    if help_line:
        lines += [help_line[0].upper() + help_line[1:] + ".", ""]
    usage = parser.format_usage().removeprefix("usage: ").rstrip().split("\n")
    usage[1:] = [line.removeprefix(" " * len("usage: ")) for line in usage[1:]]
    lines += ["```", *usage, "```", ""]
    if parser.description and parser.description != help_line:
        lines += [parser.description, ""]
    lines += _options(parser)
    if parser.epilog and level > 2:
        lines += [parser.epilog, ""]
    for _name, sub_help, sub in _subcommands(parser):
        lines += _command(sub, sub_help, min(level + 1, 4))
    return lines


def render() -> str:
    from port_server.cli import build_parser
    from port_server.cli.portman import build_parser as build_portman

    lines = [HEADER]
    for parser in (build_parser(), build_portman()):
        names = [name for name, _, _ in _subcommands(parser)]
        lines += _command(parser, "", 2)
        if parser.epilog:
            lines += [parser.epilog, ""]
        lines += ["Commands: " + ", ".join(f"`{n}`" for n in names) + ".", ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if args[:1] == ["--check"] and len(args) == 2:
        try:
            with open(args[1], encoding="utf-8") as fh:
                current = fh.read()
        except OSError as exc:
            print(f"error: {args[1]}: {exc.strerror}", file=sys.stderr)
            return 1
        if current != text:
            print(f"{args[1]} is stale; regenerate it: python -m port_server.cli.docgen >"
                  f" {args[1]}", file=sys.stderr)
            return 1
        return 0
    if args:
        print("usage: python -m port_server.cli.docgen [--check FILE]", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
