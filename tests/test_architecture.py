"""The layers hold, and docs/architecture.md describes the code as it is.

The contracts live in pyproject.toml (``[tool.importlinter]``) and also run in ``make lint``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "port_server"
DOC = ROOT / "docs" / "architecture.md"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(src: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=src, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"})


def test_import_contracts_hold() -> None:
    out = lint_imports(ROOT / "src")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


def test_contracts_catch_a_layer_breach_and_a_cycle(tmp_path: Path) -> None:
    """The same contracts on a copy of the code with two bad imports added: both are reported."""
    copy = tmp_path / "port_server"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "static"))
    with (copy / "scanners" / "base.py").open("a") as f:
        f.write("\nimport port_server.service  # noqa\n")
    with (copy / "server" / "responses.py").open("a") as f:
        f.write("\nimport port_server.server.app  # noqa\n")
    out = lint_imports(tmp_path)
    assert out.returncode != 0
    assert re.search(r"Scanners, exporters and integrations are pure.*\n?.*BROKEN", out.stdout)
    assert re.search(r"No import cycles.*BROKEN", out.stdout)


def documented_dependencies() -> dict[str, set[str]]:
    block = re.search(r"```dependencies\n(.*?)```", DOC.read_text(), re.S)
    assert block, "docs/architecture.md needs its ```dependencies block"
    out: dict[str, set[str]] = {}
    for line in block.group(1).strip().splitlines():
        name, _, targets = line.partition(" -> ")
        out[name.strip()] = {t.strip() for t in targets.split(",") if t.strip()}
    return out


def actual_dependencies() -> dict[str, set[str]]:
    graph = grimp.build_graph("port_server", include_external_packages=False,
                              exclude_type_checking_imports=True)

    def part(module: str) -> str:
        parts = module.split(".")
        return parts[1] if len(parts) > 1 else "port_server"

    out: dict[str, set[str]] = {}
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if part(module) != part(imported):
                out.setdefault(part(module), set()).add(part(imported))
    return out


def test_documented_dependencies_equal_the_import_graph() -> None:
    documented, actual = documented_dependencies(), actual_dependencies()
    problems = []
    for name in sorted(set(documented) | set(actual)):
        extra = sorted(actual.get(name, set()) - documented.get(name, set()))
        stale = sorted(documented.get(name, set()) - actual.get(name, set()))
        if extra:
            problems.append(f"{name} imports {', '.join(extra)}: add it to the table (if the"
                            " layers allow it)")
        if stale:
            problems.append(f"{name} no longer imports {', '.join(stale)}: drop it from the table")
    assert problems == [], "docs/architecture.md is out of date:\n" + "\n".join(problems)


def test_every_module_is_documented_and_every_documented_module_exists() -> None:
    named = {name for name in re.findall(r"`((?:[a-z_]+/)*[a-z_0-9]+\.py)`", DOC.read_text())
             if not name.startswith("tests/")}
    files = {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")}
    assert sorted(files - named) == [], "add a line for these to docs/architecture.md"
    assert sorted(named - files) == [], "docs/architecture.md names modules that do not exist"
