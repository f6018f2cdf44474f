"""The only module that styles output: tables, JSON, CSV-free plain lines, and error lines."""

from __future__ import annotations

import json
import sys

from port_server.records import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any, TextIO


def emit(text: str = "", stream: TextIO | None = None) -> None:
    print(text, file=stream or sys.stdout)


def error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def info(message: str) -> None:
    """A status line for people, on stderr, so stdout stays the data (or a child's output)."""
    print(message, file=sys.stderr)


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def as_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=False))


#: Control characters (C0, DEL, C1, line/paragraph separators) -> a space.
_ONE_LINE = {c: " " for c in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)}


def one_line(text: str) -> str:
    """``text`` with each control character as a space: one line, safe for a terminal."""
    return text.translate(_ONE_LINE)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], empty: str = "") -> None:
    """A plain aligned table; an empty ``rows`` prints ``empty`` (if any) instead. Each cell is
    one line: newlines, tabs and other control characters become spaces (a recorded command line
    may hold a whole script; an escape sequence must not reach the terminal)."""
    cells = [[one_line("" if c is None else str(c)) for c in row] for row in rows]
    if not cells:
        if empty:
            print(empty)
        return
    widths = [len(h) for h in headers]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    print(fmt.format(*headers).rstrip())
    for row in cells:
        print(fmt.format(*row).rstrip())


def ask(prompt: str) -> str | None:
    """One answer line from stdin (the prompt goes to stderr, so --json stdout stays clean);
    None at end of input."""
    print(prompt, end="", file=sys.stderr, flush=True)
    line = sys.stdin.readline()
    return line.strip() if line else None


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, marking the cut."""
    return text if len(text) <= width else text[:max(width - 3, 0)] + "..."


def raw(text: str) -> None:
    """Text exactly as given (CSV, config files): no added newline."""
    sys.stdout.write(text)
    sys.stdout.flush()


class Check(Record):
    """One line of ``portctl doctor``: what was checked, ok | warn | fail, and why."""

    name: str
    status: str
    message: str
