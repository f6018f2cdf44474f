"""portctl skill install: copy the agent skill shipped in the package into an agent's skills folder.

Each installed folder keeps a manifest (``.port-server-skill.json``) with the hash of every file as
written. Re-running updates files still as written; a file whose hash differs from the manifest was
edited by someone, and is kept unless ``--force``.
"""

from __future__ import annotations

import argparse

from port_server import __version__
from port_server.cli import output
from port_server.errors import EXIT_OK, InvalidInput, path_error
from port_server.records import Record
from port_server.safe_write import FOLLOW_HELP

TYPE_CHECKING = False
if TYPE_CHECKING:
    from importlib.resources.abc import Traversable
    from pathlib import Path
    from typing import Any

    from port_server.cli import Context

SKILL_NAME = "port-server"
MANIFEST = ".port-server-skill.json"
#: Agent homes whose ``skills/`` folder --global writes to, when the home exists.
AGENT_HOMES = (".claude", ".codex", ".agents")


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("skill", help="install the port-server agent skill (Claude, Codex, ...)",
                       description="Manage the agent skill shipped with port-server.")
    skill_sub = p.add_subparsers(dest="skill_command", metavar="SUBCOMMAND",
                                 parser_class=type(p))
    p.set_defaults(func=lambda args, ctx: _usage(p))
    inst = skill_sub.add_parser(
        "install", help="write SKILL.md and references/ (default: the project's"
                        " .claude/skills/port-server/)",
        description="Write the skill to .claude/skills/port-server/ at the root of the git"
                    " repository you are in (default; the current folder outside git), to the"
                    " skills folder of every agent home that exists with --global (~/.claude,"
                    " ~/.codex, ~/.agents), or to DIR/port-server/ with --dir. Re-running updates"
                    " in place; files you edited are kept unless --force.")
    where = inst.add_mutually_exclusive_group()
    where.add_argument("--global", dest="global_", action="store_true",
                       help="install for every agent home found in your home directory")
    where.add_argument("--dir", help="install into DIR/port-server/ (DIR is a skills folder)")
    inst.add_argument("--force", action="store_true", help="overwrite files you have edited")
    inst.add_argument("--json", action="store_true", help="print what was written as JSON")
    inst.add_argument("--follow-symlinks", action="store_true", help=FOLLOW_HELP)
    inst.set_defaults(func=cmd_install)


def _usage(p: argparse.ArgumentParser) -> int:
    p.print_help()
    return 2


def source_files() -> dict[str, bytes]:
    """The skill's files as shipped: relative path -> content."""
    from importlib.resources import files
    out: dict[str, bytes] = {}

    def walk(node: Traversable, prefix: str) -> None:
        for child in node.iterdir():
            if child.is_dir():
                walk(child, f"{prefix}{child.name}/")
            elif child.name.endswith(".md"):
                out[f"{prefix}{child.name}"] = child.read_bytes()

    walk(files("port_server") / "skill", "")
    return dict(sorted(out.items()))


def digest(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def global_skill_dirs(home: Path | None = None) -> list[Path]:
    """``skills/`` of each agent home that exists; ~/.claude/skills when there is none."""
    from pathlib import Path

    home = home or Path.home()
    found = [home / name / "skills" for name in AGENT_HOMES if (home / name).is_dir()]
    return found or [home / ".claude" / "skills"]


def project_skill_dir(cwd: Path | None = None) -> Path:
    """``.claude/skills`` at the root of the project holding ``cwd`` (the nearest folder with a
    ``.git``, so running from ``repo/src`` installs for the repository), else in ``cwd``."""
    from pathlib import Path

    here = (cwd or Path.cwd()).resolve()
    root = next((d for d in (here, *here.parents) if (d / ".git").exists()), here)
    return root / ".claude" / "skills"


class FileResult(Record):
    path: str
    action: str  # created | updated | unchanged | kept


def install(skills_dir: Path, force: bool = False, follow_symlinks: bool = False,
            below: Path | None = None, flag: str = "") -> list[FileResult]:
    """Install into ``skills_dir/port-server``; never overwrite an edited file unless ``force``.

    Every file is written safely (``safe_write``): a symlink planted at one of the files, or at
    a folder between ``below`` (default ``skills_dir``) and them, is refused, ``force`` or not,
    unless ``follow_symlinks``.
    """
    import json

    from port_server.safe_write import make_dirs, write_file

    below = skills_dir if below is None else below
    guard = None if follow_symlinks else below

    target = skills_dir / SKILL_NAME
    manifest_path = target / MANIFEST
    try:
        recorded: dict[str, str] = json.loads(manifest_path.read_text()).get("files", {})
    except (OSError, ValueError, AttributeError):
        recorded = {}
    written: dict[str, str] = {}
    results = []
    for rel, data in source_files().items():
        path = target / rel
        new = digest(data)
        try:
            current: str | None = digest(path.read_bytes())
        except FileNotFoundError:
            current = None
        if current == new:
            action = "unchanged"
        elif current is None:
            action = "created"
        elif current == recorded.get(rel) or force:
            action = "updated"
        else:
            action = "kept"
        if action in ("created", "updated"):
            make_dirs(path.parent, guard or path.parent, field="dir", flag=flag)
            write_file(path, data, below=guard, follow_symlinks=follow_symlinks, field="dir",
                       flag=flag)
        written[rel] = new if action != "kept" else recorded.get(rel, "")
        results.append(FileResult(str(path), action))
    make_dirs(manifest_path.parent, guard or manifest_path.parent, field="dir", flag=flag)
    write_file(manifest_path, json.dumps({"version": __version__, "files": written}, indent=2)
               + "\n", below=guard, follow_symlinks=follow_symlinks, field="dir", flag=flag)
    return results


def status(skills_dir: Path) -> str | None:
    """None when not installed there, else "current" or "outdated" (or edited)."""
    target = skills_dir / SKILL_NAME
    if not (target / "SKILL.md").is_file():
        return None
    for rel, data in source_files().items():
        try:
            if digest((target / rel).read_bytes()) != digest(data):
                return "outdated"
        except OSError:
            return "outdated"
    return "current"


def cmd_install(args: argparse.Namespace, ctx: Context) -> int:
    from pathlib import Path

    if args.global_:
        dirs = global_skill_dirs()
    elif args.dir:
        dirs = [Path(args.dir).expanduser()]
        if dirs[0].exists() and not dirs[0].is_dir():
            raise InvalidInput(f"--dir {args.dir}: not a folder; give a skills folder, e.g."
                               " ~/.claude/skills", field="dir")
    else:
        dirs = [project_skill_dir()]
    report = []
    for skills_dir in dirs:
        # In a project (a repository someone else may have written) no folder of
        # .claude/skills/port-server may be a planted link; elsewhere, below the skills folder.
        below = skills_dir.parent.parent if not (args.global_ or args.dir) else skills_dir
        try:
            results = install(skills_dir, force=args.force, follow_symlinks=args.follow_symlinks,
                              below=below, flag="--dir" if args.dir else "skills folder")
        except OSError as exc:
            raise path_error("--dir" if args.dir else "skills folder", skills_dir, exc) from None
        report.append({"dir": str(skills_dir / SKILL_NAME),
                       "files": [dict(r.__dict__) for r in results]})
        if not args.json:
            counts = {a: sum(r.action == a for r in results)
                      for a in ("created", "updated", "unchanged", "kept")}
            summary = ", ".join(f"{n} {a}" for a, n in counts.items() if n)
            output.emit(f"installed skill in {skills_dir / SKILL_NAME} ({summary})")
            for r in results:
                if r.action == "kept":
                    output.warn(f"kept {r.path}: edited since it was installed;"
                                " pass --force to overwrite it")
    if args.json:
        output.as_json(report)
    return EXIT_OK
