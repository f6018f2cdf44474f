"""Walk a project tree and run every matching scanner from ``SCANNERS`` on each file.

Skips ``.git``, ``node_modules``, ``vendor``, virtualenvs (any folder with a ``pyvenv.cfg``, and the
usual names) and whatever the project's ``.gitignore`` files ignore; never follows a symlink out of
the tree (nor a symlinked folder at all, which also rules out cycles); skips binary files and files
over ``MAX_FILE_BYTES`` with a note; a file a scanner cannot parse is reported with its path and the
parse error, and the scan goes on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from port_server.models import PortClaim
from port_server.scanners import SCANNERS, gitignore
from port_server.scanners.base import ScanError, Scanner, SourceFile

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec

MAX_FILE_BYTES = 5 * 1024 * 1024
#: How many other files (``SourceFile.read``) one scan may open, beside the walk's own.
MAX_READS = 256
SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", "node_modules", "vendor", "bower_components", ".venv", "venv",
    "virtualenv", ".virtualenv", ".tox", ".nox", "__pycache__", ".mypy_cache", ".pytest_cache",
    ".ruff_cache", "site-packages", ".direnv", ".pnpm-store", ".yarn",
})


@dataclass(frozen=True)
class ScanProblem:
    file: str
    error: str

    def to_dict(self) -> dict[str, str]:
        return {"file": self.file, "error": self.error}


@dataclass
class ScanResult:
    claims: list[PortClaim] = field(default_factory=list)
    problems: list[ScanProblem] = field(default_factory=list)
    notes: list[ScanProblem] = field(default_factory=list)
    files_seen: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"claims": [c.to_dict() for c in self.claims],
                "problems": [p.to_dict() for p in self.problems],
                "notes": [n.to_dict() for n in self.notes]}


def scan_project(root: Path | str, environ: Mapping[str, str] | None = None,
                 scanners: tuple[Scanner, ...] = SCANNERS) -> ScanResult:
    """Every host-port claim under ``root``; ``environ`` (default: the process environment)
    overrides each compose file's sibling ``.env``, as compose does."""
    top = Path(root).resolve()
    env = dict(os.environ if environ is None else environ)
    result = ScanResult()
    dotenv_cache: dict[str, dict[str, str] | None] = {}
    read = _project_reader(top)
    for rel, path_text in _walk(top, result):
        result.files_seen += 1
        matching = [s for s in scanners if s.matches(rel)]
        if not matching:
            continue
        path = Path(path_text)
        text = _read(path, rel, result)
        if text is None:
            continue
        for scanner in matching:
            variables: Mapping[str, str] = {}
            dotenv: Mapping[str, str] = {}
            if scanner.wants_env:
                dotenv = _nearest_dotenv(top, path.parent, dotenv_cache)
                variables = {**dotenv, **env}
            try:
                result.claims.extend(scanner.scan(SourceFile(rel, text, variables, dotenv, read)))
            except ScanError as exc:
                result.claims.extend(exc.claims)
                result.problems.append(ScanProblem(rel, str(exc)))
            except RecursionError:
                result.problems.append(ScanProblem(rel, "nested too deeply to parse"))
    result.claims.sort(key=lambda c: (c.file, c.line))
    return result


def _nearest_dotenv(top: Path, folder: Path, cache: dict[str, dict[str, str] | None
                                                         ]) -> dict[str, str]:
    """The .env beside the file, else the nearest one above it inside the project (a compose
    file in ``overrides/`` is run with the project folder's .env)."""
    from port_server.scanners.env_file import parse_dotenv

    while True:
        key = str(folder)
        if key not in cache:
            try:
                data = (folder / ".env").read_bytes()[:MAX_FILE_BYTES]
                cache[key] = parse_dotenv(data.decode("utf-8", errors="replace"))
            except OSError:
                cache[key] = None
        found = cache[key]
        if found is not None:
            return found
        if folder == top or top not in folder.parents:
            return {}
        folder = folder.parent


def _project_reader(top: Path) -> Callable[[str], str | None]:
    """``SourceFile.read``: another file of the project by relative path, at most
    ``MAX_READS`` of them, none over the size limit, none reached through a symlink."""
    cache: dict[str, str | None] = {}

    def read(rel: str) -> str | None:
        if rel in cache:
            return cache[rel]
        cache[rel] = None
        parts = rel.split("/")
        if len(cache) > MAX_READS or rel.startswith("/") or ".." in parts:
            return None
        path = top.joinpath(*parts)
        try:
            if any(p.is_symlink() for p in (path, *path.parents) if top in p.parents) or \
                    not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
                return None
            cache[rel] = path.read_bytes().decode("utf-8", errors="replace")
        except OSError:
            return None
        return cache[rel]

    return read


def _read(path: Path, rel: str, result: ScanResult) -> str | None:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            result.notes.append(ScanProblem(rel, f"skipped: {size} bytes is over the"
                                                 f" {MAX_FILE_BYTES // (1024 * 1024)} MiB limit"))
            return None
        data = path.read_bytes()
    except OSError as exc:
        result.problems.append(ScanProblem(rel, f"cannot read: {exc.strerror or exc}"))
        return None
    if b"\0" in data[:8192]:
        return None  # binary
    return data.decode("utf-8", errors="replace")


def _walk(top: Path, result: ScanResult) -> list[tuple[str, str]]:
    """(posix path relative to ``top``, path) for every file to consider, in a stable order.
    Paths stay strings: a Path per file costs more than the whole walk."""
    out: list[tuple[str, str]] = []
    # Each stack entry: folder, its path relative to top, the .gitignore rule lists in force.
    stack: list[tuple[str, str, list[tuple[str, GitIgnoreSpec]]]] = [(str(top), "", [])]
    while stack:
        folder, rel_folder, rule_sets = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            result.problems.append(ScanProblem(rel_folder or ".", f"cannot list: {exc.strerror}"))
            continue
        names = {e.name for e in entries}
        if "pyvenv.cfg" in names and rel_folder:
            continue
        if ".gitignore" in names:
            try:
                with open(os.path.join(folder, ".gitignore"), encoding="utf-8",
                          errors="replace") as fh:
                    rule_sets = [*rule_sets, (rel_folder, gitignore.parse(fh.read()))]
            except OSError:
                pass
        subdirs = []
        for entry in entries:
            rel = f"{rel_folder}/{entry.name}" if rel_folder else entry.name
            try:
                is_link = entry.is_symlink()
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir and entry.name in SKIP_DIRS:
                continue
            if _ignored(rule_sets, rel, is_dir):
                continue
            if is_dir:
                subdirs.append((entry.path, rel, rule_sets))
            elif is_link:
                target = _link_target_inside(top, entry.path)
                if target is None:
                    result.notes.append(ScanProblem(rel, "skipped: symlink points outside the"
                                                         " project (or is broken)"))
                elif target.is_file():
                    out.append((rel, str(target)))
            elif entry.is_file(follow_symlinks=False):
                out.append((rel, entry.path))
        stack.extend(reversed(subdirs))
    return out


def _ignored(rule_sets: list[tuple[str, GitIgnoreSpec]], rel: str, is_dir: bool) -> bool:
    verdict = False
    for base, rules in rule_sets:
        sub = rel[len(base) + 1:] if base else rel
        verdict = gitignore.ignored(rules, sub, is_dir, verdict)
    return verdict


def _link_target_inside(top: Path, path: str) -> Path | None:
    try:
        target = Path(path).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return target if target.is_relative_to(top) else None
