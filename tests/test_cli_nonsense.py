"""Every subcommand of portctl and portman, enumerated from their parsers, given nonsense: a
one-line error and exit 1, 2 or 3, never a traceback."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from conftest import ServerProc
from port_server.cli import build_parser
from port_server.cli.portman import build_parser as build_portman_parser

#: Invalid as a name, a path, a URL, a number, a duration, a host and a file.
NONSENSE = "/dev/null/%%no:such::thing%%"
#: Internal: the shells call it on every TAB and it must stay quiet whatever it gets.
INTERNAL = {("__complete",)}


Command = tuple[tuple[str, ...], argparse.ArgumentParser]


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[Command]:
    """(words, parser) of every leaf command, nested ones (``skill install``) included."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs and path:
        yield path, parser
    for action in subs:
        for name, sub in action.choices.items():
            yield from commands(sub, (*path, name))
        if path:  # `sync` alone is a command too
            yield path, parser


def nonsense_args(parser: argparse.ArgumentParser) -> list[str]:
    """NONSENSE for every free-text option and positional (typed ones would stop argparse
    before the command runs; flags and the command to run are left out)."""
    words: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
            continue
        if action.nargs == 0 or action.type is not None or action.choices:
            continue
        if action.nargs == argparse.REMAINDER:
            continue
        if action.option_strings:
            words += [action.option_strings[-1], NONSENSE]
        else:
            words.append(NONSENSE)
    return words


@pytest.fixture
def srv(module_server: ServerProc) -> ServerProc:
    return module_server


def all_cases() -> list[tuple[str, tuple[str, ...], list[str]]]:
    cases = []
    for prog, parser in (("portctl", build_parser()), ("portman", build_portman_parser())):
        for words, sub in commands(parser):
            if words in INTERNAL:
                continue
            cases.append((prog, words, ["--no-such-option-at-all"]))
            args = nonsense_args(sub)
            if args:
                cases.append((prog, words, args))
    return cases


def test_every_command_refuses_nonsense_cleanly(srv: ServerProc) -> None:
    cases = all_cases()
    assert len({(prog, words) for prog, words, _ in cases}) > 40  # the parsers were really walked
    bad = []
    for prog, words, args in cases:
        r = srv.portctl(*words, *args, prog=prog, timeout=60)
        said = r.stdout + r.stderr
        if r.returncode not in (1, 2, 3) or "Traceback" in said or not said.strip():
            bad.append(f"{prog} {' '.join(words)} {' '.join(args)} -> {r.returncode}:"
                       f" {said.strip()[-300:]}")
    assert bad == [], "\n".join(bad)
    assert srv.proc is not None and srv.proc.poll() is None  # nonsense never stopped the server
