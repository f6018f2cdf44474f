"""A tolerant reader for JavaScript/TypeScript config files: where ``port`` is set, never run.

The file is tokenized (strings, template literals, comments, regular expressions) and walked with
a stack of brackets, so each ``port:`` property knows the keys of the objects around it
(``server``, ``preview``, ``devServer``...). A property whose value is a name (``server:
serverOptions``) follows that name's ``const`` object; ``config.devServer.port = 3000`` counts as a
property too. ``js_eval`` computes the values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<comment>//[^\n]*|/\*.*?(?:\*/|\Z))
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`)
  | (?P<number>\d[\d_]*(?:\.\d+)?)
  | (?P<name>[A-Za-z_$][\w$]*)
  | (?P<punct>=>|\?\?|\|\||&&|\.\.\.|\?\.|===?|!==?|[{}()\[\],:;.=+\-*/%!?<>&|^~@#])
  | (?P<other>.)
""", re.VERBOSE | re.DOTALL)
_REGEX = re.compile(r"/(?:[^/\\\n\[]|\\.|\[(?:[^\]\\\n]|\\.)*\])+/[a-z]*")
_REGEX_AFTER = frozenset(["(", ",", "=", ":", "[", "!", "&", "|", "?", "{", "}", ";", "=>",
                          "return", "typeof"])
MAX_TOKENS = 200_000
#: A line ending in one of these, or the next starting with one, continues the expression
#: (no automatic semicolon there).
_OPERATORS = frozenset([".", "?.", "||", "??", "&&", "+", "-", "*", "/", "%", "?", ":", "=",
                        "=>", ",", "===", "==", "!=", "!=="])
_OPEN_AT_END = _OPERATORS | {"(", "[", "{"}
_CONTINUES_AT_START = _OPERATORS | {")", "]", "}"}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    line: int


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    line = 1
    while pos < len(text) and len(tokens) < MAX_TOKENS:
        if text[pos] == "/" and (not tokens or tokens[-1].text in _REGEX_AFTER) and (
                m := _REGEX.match(text, pos)):
            tokens.append(Token("regex", m.group(0), line))
        else:
            m = _TOKEN.match(text, pos)
            assert m is not None  # the "other" group matches any character
            kind = m.lastgroup or "other"
            if kind not in ("space", "comment"):
                tokens.append(Token(kind, m.group(0), line))
        line += m.group(0).count("\n")
        pos = m.end()
    return tokens


@dataclass
class Property:
    """``port: <value>`` (or ``a.b.port = <value>``): the enclosing keys, its value's tokens."""

    path: tuple[str, ...]
    line: int
    value: list[Token]
    siblings: dict[str, list[Token]] = field(default_factory=dict)


@dataclass
class _Frame:
    kind: str
    path: tuple[str, ...]
    pending: str = ""
    props: dict[str, list[Token]] = field(default_factory=dict)


@dataclass
class Config:
    ports: list[Property]
    #: ``const name = <tokens>`` at any level (the first binding wins).
    consts: dict[str, list[Token]]
    #: key path -> the const name its value refers to (``server: serverOptions``).
    aliases: dict[tuple[str, ...], str]


def read_config(text: str, key: str = "port") -> Config:
    tokens = tokenize(text)
    stack = [_Frame("root", ())]
    ports: list[Property] = []
    consts: dict[str, list[Token]] = {}
    aliases: dict[tuple[str, ...], str] = {}
    for i, tok in enumerate(tokens):
        top = stack[-1]
        prev = tokens[i - 1].text if i else ""
        nxt = tokens[i + 1].text if i + 1 < len(tokens) else ""
        if tok.text in ("{", "(", "["):
            path = top.path + ((top.pending,) if top.pending and top.kind in ("{", "root")
                               else ())
            stack.append(_Frame(tok.text, path))
        elif tok.text in ("}", ")", "]"):
            if len(stack) > 1:
                stack.pop()
            stack[-1].pending = "" if stack[-1].kind == "root" else stack[-1].pending
        elif tok.text == "," and top.kind == "{":
            top.pending = ""
        elif nxt == ":" and top.kind == "{" and prev in ("{", ",") and tok.kind in (
                "name", "string", "number"):
            name = tok.text.strip("'\"`")
            top.pending = name
            value = _value(tokens, i + 2)
            top.props[name] = value
            if name == key:
                ports.append(Property(top.path, tok.line, value, top.props))
            elif len(value) == 1 and value[0].kind == "name":
                aliases[(*top.path, name)] = value[0].text
        elif tok.kind == "name" and top.kind == "{" and prev in ("{", ",") and nxt in (",", "}"):
            top.props[tok.text] = [tok]  # shorthand: { port, host }, { devServer }
            aliases[(*top.path, tok.text)] = tok.text
            if tok.text == key:
                ports.append(Property(top.path, tok.line, [tok], top.props))
        elif tok.kind == "name" and nxt in ("=", ":") and prev in ("const", "let", "var"):
            start = _after_type(tokens, i + 1)  # const name: Type = value (TypeScript)
            if start is not None:
                consts.setdefault(tok.text, _value(tokens, start))
                if start < len(tokens) and tokens[start].text == "{":
                    top.pending = "=" + tok.text  # its object's keys are "=name" paths
        elif tok.text == "=" and prev == key and i >= 3 and tokens[i - 2].text == ".":
            chain = _member_chain(tokens, i - 1)
            ports.append(Property(top.path + chain, tok.line, _value(tokens, i + 1)))
        elif tok.text == "=" and prev and tokens[i - 1].kind == "name" and i >= 2 and \
                tokens[i - 2].text == "." and nxt == "{":
            top.pending = prev  # config.devServer = { ... }
    return Config(ports, consts, aliases)


def _after_type(tokens: list[Token], i: int) -> int | None:
    """The index after the ``=`` of a declaration whose name ends at ``i`` (past a type)."""
    depth = 0
    for j in range(i, min(len(tokens), i + 200)):
        text = tokens[j].text
        if text in ("(", "[", "{", "<"):
            depth += 1
        elif text in (")", "]", "}", ">"):
            depth -= 1
        elif text == "=" and depth <= 0:
            return j + 1
        elif text == ";" or depth < 0:
            return None
    return None


def _member_chain(tokens: list[Token], end: int) -> tuple[str, ...]:
    """The names before ``tokens[end]`` in ``a.b.c.port`` -> ('b', 'c') (the base is dropped)."""
    names: list[str] = []
    j = end - 1
    while j >= 1 and tokens[j].text == "." and tokens[j - 1].kind == "name":
        names.append(tokens[j - 1].text)
        j -= 2
    return tuple(reversed(names[:-1] if len(names) > 1 else names))


def call_arguments(tokens: list[Token]) -> list[list[Token]]:
    """A call's arguments, from the tokens after its opening parenthesis."""
    out: list[list[Token]] = []
    i = 0
    while i < len(tokens) and tokens[i].text not in (")", "]", "}"):
        arg = _value(tokens, i)
        if not arg:
            break
        out.append(arg)
        i += len(arg)
        if i < len(tokens) and tokens[i].text == ",":
            i += 1
    return out


def _value(tokens: list[Token], start: int) -> list[Token]:
    """Tokens of one expression: up to a ``,`` ``;`` or closing bracket at its own level."""
    depth = 0
    out: list[Token] = []
    for tok in tokens[start:start + 400]:
        if out and depth == 0 and tok.line > out[-1].line and \
                out[-1].text not in _OPEN_AT_END and tok.text not in _CONTINUES_AT_START:
            break  # a new line ends the statement (JavaScript's automatic semicolons)
        if tok.text in ("(", "[", "{"):
            depth += 1
        elif tok.text in (")", "]", "}"):
            if depth == 0:
                break
            depth -= 1
        elif tok.text in (",", ";") and depth == 0:
            break
        out.append(tok)
    return out
