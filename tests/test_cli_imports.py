"""portctl is started thousands of times by scripts: its import path must stay light.

If this fails for a module you added under cli/, move the heavy import inside the function that
needs it (or under ``if TYPE_CHECKING:`` for annotations).
"""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = (
    "fastapi", "starlette", "uvicorn", "pydantic", "psutil", "yaml", "http.client",
    "urllib.request", "urllib.parse", "dataclasses", "typing", "inspect",
    "mcp", "psycopg", "click", "httpx", "requests", "sqlite3", "pathlib",
    "port_server.server", "port_server.service", "port_server.store", "port_server.settings",
)


def imported_by(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\nprint(*sys.modules)"],
                         capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_allocate_path_imports_nothing_heavy() -> None:
    names = imported_by("from port_server.cli import build_parser;"
                        "build_parser(argv=['allocate', '--service', 'x']);"
                        "import port_server.client; import port_server.workflows.identity")
    bad = sorted(n for n in names if n.startswith(FORBIDDEN) and
                 any(n == f or n.startswith(f + ".") for f in FORBIDDEN))
    assert bad == [], f"portctl's start-up imports heavy modules: {bad}"
    assert "port_server.cli.allocations" in names  # the check really looked at the CLI
    assert "port_server.cli.daemon_ctl" not in names  # only the command's own module


def test_every_command_is_indexed() -> None:
    """COMMAND_INDEX must name every command, or running it imports every CLI module."""
    from port_server.cli import COMMAND_INDEX, build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    missing = sorted(set(sub.choices) - set(COMMAND_INDEX))  # type: ignore[attr-defined]
    assert missing == [], f"add these commands to COMMAND_INDEX in cli/__init__.py: {missing}"
