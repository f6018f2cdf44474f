"""How ``portctl run`` passes the port to tools that ignore ``$PORT``.

The command is matched against the frameworks table (``port_server.frameworks``, plus the config
file's ``[frameworks.NAME]`` tables, which win); the matched tool gets its own port arguments
(``--port N``, ``-p N``, ``127.0.0.1:N``...). ``npm run dev`` and friends are looked up in the
folder's package.json. Nothing is added when the command already has ``{port}`` or a port option.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from port_server.errors import InvalidInput
from port_server.frameworks import (
    FRAMEWORKS,
    Detected,
    Framework,
    detect,
    from_config,
    has_port,
    strip_wrappers,
    with_port,
)

#: Package managers whose ``run SCRIPT`` (or bare ``SCRIPT``) runs a package.json script.
_RUNNERS = ("npm", "pnpm", "yarn", "bun")


def table() -> tuple[Framework, ...]:
    """The user's frameworks (config file) first, then the built-in ones."""
    from port_server.settings import config_path_from_env, load_config_file

    try:
        mine = from_config(load_config_file(config_path_from_env()).get("frameworks"))
    except ValueError as exc:
        raise InvalidInput(f"config {exc}", field="frameworks") from None
    return (*mine, *FRAMEWORKS)


def _script(argv: list[str], folder: Path) -> tuple[list[str], bool] | None:
    """The package.json script that ``npm run dev`` / ``pnpm dev`` runs, split into words, and
    whether extra arguments need a ``--`` first (npm does)."""
    if not argv or argv[0].rsplit("/", 1)[-1] not in _RUNNERS:
        return None
    runner = argv[0].rsplit("/", 1)[-1]
    rest = argv[1:]
    if rest[:1] in (["run"], ["run-script"]):
        rest = rest[1:]
    elif runner == "npm" and rest[:1] not in (["start"], ["dev"]):
        return None
    if not rest:
        return None
    try:
        scripts = json.loads((folder / "package.json").read_text()).get("scripts") or {}
        words = shlex.split(str(scripts[rest[0]]))
    except (OSError, ValueError, KeyError, AttributeError):
        return None
    return words, runner == "npm" and "--" not in argv


def port_argv(argv: list[str], choice: str | None, folder: Path) -> tuple[list[str], str]:
    """(the command to run, with ``{port}`` where the port goes, and a note on what was added
    or "") for ``argv``; ``choice`` is --framework (a name, "none" or None: recognise it)."""
    if choice == "none" or any("{port}" in a for a in argv):
        return argv, ""
    frameworks = table()
    found: Detected | None
    if choice:
        by_name = {f.name: f for f in reversed(frameworks)}
        if choice not in by_name:
            raise InvalidInput(f"--framework {choice!r}: unknown; use none or one of"
                               f" {', '.join(sorted(by_name))}", field="framework")
        found = detect(argv, (by_name[choice],)) or Detected(by_name[choice], len(argv))
    else:
        found = detect(argv, frameworks)
    dashdash = False
    if found is None:
        script = _script(argv[strip_wrappers(argv):], folder)
        if script is None:
            return argv, ""
        words, dashdash = script
        found = detect(words, frameworks)
        if found is None or has_port(words, found):
            return argv, ""
        found = Detected(found.framework, len(argv))
    if has_port(argv, found):
        return argv, f"{found.framework.name}: the command already sets its port"
    out = with_port(argv, found, "{port}")
    added = with_port([], Detected(found.framework, 0), "{port}")
    if dashdash:
        out = [*argv, "--", *added]
    return out, f"{found.framework.name}: adding {' '.join(added)}"
