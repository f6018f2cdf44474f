"""What every scanner shares: its input, its one error, and the table entry that registers it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

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
    #: Reads another file of the project by its path relative to the project root (the .env
    #: files vite's ``loadEnv`` reads); None when it is missing, outside the tree or too big.
    read: Callable[[str], str | None] = field(default=lambda rel: None)


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


def folder_of(rel: str) -> str:
    """'a/b/c.txt' -> 'a/b'; 'c.txt' -> ''."""
    return rel.rsplit("/", 1)[0] if "/" in rel else ""


def valid_port(value: object) -> int | None:
    """A fixed TCP/UDP port from an int or a digit string; 0 (any free port) is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip().strip("'\"")
        if not value.isdigit():
            return None
    if not isinstance(value, (int, str)):
        return None
    port = int(value)
    return port if 0 < port <= 65535 else None


def claim(src: SourceFile, line: int, kind: str, service: str, port: int, source: str, *,
          host_ip: str = "", container_port: int | None = None, default: bool = False,
          note: str = "", protocol: str = "tcp", **extra: Any) -> PortClaim:
    """A claim of the newer scanners: ``extra["source"]`` names the key or entry that sets the
    port (``forwardPorts``, ``server.port``, a recipe); ``extra["default"]`` marks a value taken
    from a placeholder's default (``${PORT:8080}``), which the note repeats."""
    extra = {k: v for k, v in extra.items() if v not in (None, "")}
    extra["source"] = source
    if default:
        extra["default"] = True
        note = note or f"default of a placeholder in {source}"
    return PortClaim(file=src.rel, line=line, kind=kind, service=service or source,
                     host_port=port, container_port=container_port, protocol=protocol,
                     host_ip=host_ip, note=note, extra=extra)
