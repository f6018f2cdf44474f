"""What every scanner shares: its input, its one error, and the table entry that registers it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from port_server.models import PortClaim


class ScanError(ValueError):
    """A file (or part of one) the scanner cannot read; the walker reports it and goes on.

    ``claims`` holds what the scanner did find before or around the bad part."""

    def __init__(self, message: str, claims: list[PortClaim] | None = None) -> None:
        super().__init__(message)
        self.claims = claims or []


@dataclass(frozen=True)
class SourceFile:
    """One file handed to a scanner: its path relative to the project, its text, the variables
    compose interpolation uses (the process environment over the project's .env), and the .env's
    own variables (a Makefile that ``include``s .env reads them)."""

    rel: str
    text: str
    env: Mapping[str, str]
    dotenv: Mapping[str, str] = field(default_factory=dict)


ScanFunction = Callable[[SourceFile], list[PortClaim]]


@dataclass(frozen=True)
class Scanner:
    """A SCANNERS table entry: ``matches`` sees the path relative to the project root (posix)."""

    name: str
    kind: str
    matches: Callable[[str], bool]
    scan: ScanFunction
    #: Whether ``SourceFile.env``/``dotenv`` should carry the project's .env (and for ``env`` the
    #: process environment over it).
    wants_env: bool = False


def base_name(rel: str) -> str:
    return rel.rsplit("/", 1)[-1]
