"""Which compose files a project loads, and where ``up`` puts its generated override.

Compose reads ``COMPOSE_FILE`` (from the environment or the project's ``.env``) when it is set,
otherwise the first of ``compose.yaml``... plus ``compose.override.yaml``... when present. ``up``
never edits those: when the project has no override file, the generated one *is*
``compose.override.yaml`` (picked up with no setting at all); when it has one, or sets
``COMPOSE_FILE``, the generated file is ``compose.portctl.yaml`` and ``COMPOSE_FILE`` in ``.env``
lists the project's files followed by it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from port_server.errors import PortServerError
from port_server.exporters.compose_override import is_generated

BASE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
OVERRIDE_NAMES = ("compose.override.yaml", "compose.override.yml",
                  "docker-compose.override.yaml", "docker-compose.override.yml")
OWN_FILE = "compose.portctl.yaml"
#: What a generated file says when nothing needs overriding any more (it stays valid).
EMPTY = "services: {}\n"


def generated(path: Path) -> bool:
    """Was ``path`` written by ``portctl up``? (its first line says so)"""
    try:
        with path.open("rb") as fh:
            return is_generated(fh.read(64).decode("utf-8", "replace"))
    except OSError:
        return False


@dataclass
class Layout:
    #: The project's own compose files, in the order compose merges them.
    files: list[Path]
    #: Where the generated override goes.
    target: Path
    #: The COMPOSE_FILE value ``.env`` needs ("" when compose finds the override by itself).
    compose_file: str = ""
    warnings: list[str] = field(default_factory=list)


def layout(folder: Path, dotenv: Mapping[str, str], environ: Mapping[str, str]) -> Layout | None:
    """The project's compose files and the override's place; None without a compose file."""
    sep = environ.get("COMPOSE_PATH_SEPARATOR") or dotenv.get("COMPOSE_PATH_SEPARATOR") or ":"
    configured = environ.get("COMPOSE_FILE") or dotenv.get("COMPOSE_FILE") or ""
    if configured:
        names = [n for n in configured.split(sep) if n]
        own = [n for n in names if Path(n).name == OWN_FILE or generated(folder / n)]
        files = [folder / n for n in names if n not in own]
        out = Layout(files, folder / OWN_FILE, sep.join([*(n for n in names if n not in own),
                                                         OWN_FILE]))
        if environ.get("COMPOSE_FILE") and OWN_FILE not in environ["COMPOSE_FILE"].split(sep):
            out.warnings.append(f"COMPOSE_FILE is set in your environment; add {OWN_FILE} to it"
                                " (or unset it) so that compose uses this worktree's ports")
        return out
    base = next((folder / n for n in BASE_NAMES if (folder / n).is_file()), None)
    if base is None:
        return None
    mine = next((folder / n for n in OVERRIDE_NAMES
                 if (folder / n).is_file() and not generated(folder / n)), None)
    if mine is None:
        return Layout([base], folder / OVERRIDE_NAMES[0])
    return Layout([base, mine], folder / OWN_FILE, sep.join([base.name, mine.name, OWN_FILE]))


def project_name(app: str, instance: str) -> str:
    """A per-worktree COMPOSE_PROJECT_NAME: the instance (a worktree's folder), prefixed with
    the app unless it already starts with it; lower case, as compose requires."""
    import re

    base = instance if instance.lower().startswith(app.lower()) else f"{app}-{instance}"
    return re.sub(r"[^a-z0-9_-]+", "-", base.lower()).strip("-_") or "project"


def shared_name_warning(value: str, where: str, app: str, instance: str) -> str | None:
    """A warning when COMPOSE_PROJECT_NAME is a constant other worktrees would share too."""
    if project_name(app, instance) == value or instance.lower() in value.lower():
        return None
    return (f"COMPOSE_PROJECT_NAME={value} is set {where}: every worktree with that value shares"
            " containers, networks and volumes; remove it (portctl up then writes one per"
            f" worktree) or set it to e.g. {project_name(app, instance)}")


def git_exclude(folder: Path, names: list[str]) -> None:
    """List files ``up`` created in ``folder`` in the repository's ``info/exclude`` (shared by
    all its worktrees), so ``git status`` stays clean and ``git worktree remove`` needs no
    ``--force``. Outside git, or when git's folder cannot be written, nothing happens."""
    import contextlib
    import os

    from port_server.safe_write import write_file
    from port_server.workflows.identity import find_git, git_dir

    top = find_git(os.path.realpath(folder))
    if top is None or not names:
        return
    gdir = Path(git_dir(top))
    common = gdir  # the main worktree: its .git folder is the common one
    with contextlib.suppress(OSError):
        common = (gdir / (gdir / "commondir").read_text().strip()).resolve()
    exclude = common / "info" / "exclude"
    rel = os.path.relpath(os.path.realpath(folder), top)
    prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
    try:
        text = exclude.read_text() if exclude.is_file() else ""
        lines = text.splitlines()
        new = [f"/{prefix}{n}" for n in names if f"/{prefix}{n}" not in lines]
        if new:
            exclude.parent.mkdir(parents=True, exist_ok=True)
            body = text + ("" if not text or text.endswith("\n") else "\n")
            write_file(exclude, body + "".join(f"{line}\n" for line in new))
    except (OSError, PortServerError):
        return
