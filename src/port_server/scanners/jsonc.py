"""A tolerant JSON reader for the JSON-with-comments files tools write by hand (devcontainer.json,
angular.json): ``//`` and ``/* */`` comments, trailing commas, and each value's line number.

``parse`` returns plain Python values, except that objects are ``JObject`` (a dict with
``line_of[key]``) and arrays ``JArray`` (a list with ``line_of[i]``), so a scanner can say where
a port was written. Nesting is bounded; anything else that is not JSON raises ``ScanError``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from port_server.scanners.base import ScanError

MAX_DEPTH = 64
_SPACE = re.compile(r"(?:\s+|//[^\n]*|/\*.*?\*/)*", re.DOTALL)
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_WORDS = {"true": True, "false": False, "null": None}


class JObject(dict[str, Any]):
    """A JSON object that remembers the line each key was written on."""

    def __init__(self) -> None:
        super().__init__()
        self.line_of: dict[str, int] = {}


class JArray(list[Any]):
    """A JSON array that remembers the line of each element."""

    def __init__(self) -> None:
        super().__init__()
        self.line_of: list[int] = []


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        # Line starts, for turning offsets into line numbers by bisection.
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line(self, pos: int) -> int:
        import bisect

        return bisect.bisect_right(self.starts, pos)

    def skip(self) -> None:
        m = _SPACE.match(self.text, self.pos)
        if m:
            self.pos = m.end()

    def fail(self, what: str) -> ScanError:
        return ScanError(f"invalid JSON at line {self.line(self.pos)}: {what}")

    def value(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise self.fail("nested too deeply")
        self.skip()
        ch = self.text[self.pos:self.pos + 1]
        if ch == "{":
            return self.obj(depth)
        if ch == "[":
            return self.arr(depth)
        if ch == '"':
            return self.string()
        m = _NUMBER.match(self.text, self.pos)
        if m:
            self.pos = m.end()
            return json.loads(m.group(0))
        for word, val in _WORDS.items():
            if self.text.startswith(word, self.pos):
                self.pos += len(word)
                return val
        raise self.fail(f"unexpected {ch!r}" if ch else "unexpected end of file")

    def string(self) -> str:
        m = _STRING.match(self.text, self.pos)
        if m is None:
            raise self.fail("unterminated string")
        self.pos = m.end()
        try:
            return str(json.loads(m.group(0)))
        except ValueError:
            raise self.fail("bad escape in string") from None

    def obj(self, depth: int) -> JObject:
        out = JObject()
        self.pos += 1
        while True:
            self.skip()
            if self.text.startswith("}", self.pos):
                self.pos += 1
                return out
            if not self.text.startswith('"', self.pos):
                raise self.fail("expected a quoted key")
            line = self.line(self.pos)
            key = self.string()
            self.skip()
            if not self.text.startswith(":", self.pos):
                raise self.fail(f"expected ':' after {key!r}")
            self.pos += 1
            out[key] = self.value(depth + 1)
            out.line_of[key] = line
            self.after_item("}")

    def arr(self, depth: int) -> JArray:
        out = JArray()
        self.pos += 1
        while True:
            self.skip()
            if self.text.startswith("]", self.pos):
                self.pos += 1
                return out
            out.line_of.append(self.line(self.pos))
            out.append(self.value(depth + 1))
            self.after_item("]")

    def after_item(self, close: str) -> None:
        self.skip()
        ch = self.text[self.pos:self.pos + 1]
        if ch == ",":
            self.pos += 1
        elif ch != close:
            raise self.fail(f"expected ',' or {close!r}")


def parse(text: str) -> Any:
    """The document's value (see module doc). Raises ScanError."""
    reader = _Reader(text.lstrip("\ufeff"))
    value = reader.value(0)
    reader.skip()
    if reader.pos != len(reader.text):
        raise reader.fail("text after the end of the document")
    return value
