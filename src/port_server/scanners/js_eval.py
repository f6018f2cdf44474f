"""The value of a port expression in a JavaScript/TypeScript config (``js_config``), never run.

Understood: numbers, digit strings, ``Number()``/``parseInt()``/``+x``, parentheses,
``a || b`` / ``a ?? b`` (the right side is a default), ``process.env.X ? A : B`` (B is the default),
``process.env.X`` and ``import.meta.env.X`` (unset: the process environment is never read), names
bound to vite's ``loadEnv(...)`` (read through the caller's lookup) and ``const`` names. Anything
else (a call, arithmetic, another ternary) is not guessed: the value is None.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from port_server.scanners.js_config import Config, Token

EnvLookup = Callable[[str, str], str | None]  # (object name, variable) -> value or None


@dataclass(frozen=True)
class Evaluated:
    value: str | None
    default: bool = False
    #: The variable of a ``loadEnv`` object the value is read from (``env.VITE_PORT``), if any.
    variable: str = ""
    #: Read from the environment (``process.env.X``, ``import.meta.env.X``, a loadEnv object).
    from_env: bool = False


class _Parser:
    def __init__(self, tokens: list[Token], config: Config, env: EnvLookup, depth: int) -> None:
        self.t = tokens
        self.i = 0
        self.config = config
        self.env = env
        self.depth = depth
        self.nesting = 0

    def peek(self, k: int = 0) -> str:
        return self.t[self.i + k].text if self.i + k < len(self.t) else ""

    def expr(self) -> Evaluated:
        left = self.unary()
        while self.peek() in ("||", "??"):
            self.i += 1
            right = self.unary()
            if left.value is None or left.value in ("", "0", "NaN"):
                left = Evaluated(right.value, right.default or right.value is not None,
                                 left.variable)
        if self.peek() == "?" and left.from_env:  # process.env.PORT ? Number(...) : 5173
            self.i += 1
            then = self.expr()
            if self.peek() != ":":
                return Evaluated(None)
            self.i += 1
            otherwise = self.expr()
            if left.value not in (None, "", "0"):
                return then
            return Evaluated(otherwise.value, otherwise.value is not None, left.variable)
        return left

    def unary(self) -> Evaluated:
        if self.peek() == "+":
            self.i += 1
        return self.primary()

    def primary(self) -> Evaluated:
        if self.i >= len(self.t):
            return Evaluated(None)
        tok = self.t[self.i]
        self.i += 1
        if tok.kind == "number":
            return Evaluated(tok.text.replace("_", ""))
        if tok.kind == "string":
            return Evaluated(None if "${" in tok.text else tok.text[1:-1])
        if tok.text == "(":
            if self.nesting > 32:
                return Evaluated(None)
            self.nesting += 1
            inner = self.expr()
            self.nesting -= 1
            self._close()
            return inner
        if tok.kind != "name":
            return Evaluated(None)
        chain = [tok.text]
        while self.peek() in (".", "?.") and self.i + 1 < len(self.t):
            chain.append(self.t[self.i + 1].text)
            self.i += 2
        if self.peek() == "(" and chain[-1] in ("Number", "parseInt", "parseFloat", "String"):
            if self.nesting > 32:
                return Evaluated(None)
            self.i += 1
            self.nesting += 1
            inner = self.expr()
            self.nesting -= 1
            self._close()
            return inner
        if len(chain) >= 2 and chain[:2] in (["process", "env"], ["import", "meta"]):
            return Evaluated(None, from_env=len(chain) > 2)
        if len(chain) == 2 and self.env(chain[0], "") is not None:
            return Evaluated(self.env(chain[0], chain[1]), variable=chain[1], from_env=True)
        if len(chain) == 1 and chain[0] in self.config.consts and self.depth < 8:
            return evaluate(self.config.consts[chain[0]], self.config, self.env, self.depth + 1)
        return Evaluated(None)

    def _close(self) -> None:
        depth = 0
        while self.i < len(self.t):  # skip to the matching ")" (extra arguments such as a radix)
            text = self.t[self.i].text
            self.i += 1
            if text in ("(", "[", "{"):
                depth += 1
            elif text in (")", "]", "}"):
                if depth == 0:
                    return
                depth -= 1


def evaluate(tokens: list[Token], config: Config, env: EnvLookup, depth: int = 0) -> Evaluated:
    """The value of a port expression, or None when it cannot be known without running code."""
    parser = _Parser(tokens, config, env, depth)
    result = parser.expr()
    if parser.i < len(tokens):  # a ternary, a call, arithmetic: not a value we can know
        return Evaluated(None)
    return result
