"""Derived values for ``.env``: the ``[env]`` templates of the config file and of the project's
``.portctl.toml`` (the project's win), filled from app/instance's allocations
(``exporters.derived_env``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from port_server.errors import InvalidInput

if TYPE_CHECKING:
    from pathlib import Path

    from port_server.client import RegistryClient
    from port_server.exporters.derived_env import Derived
    from port_server.models import Allocation

PROJECT_FILE = ".portctl.toml"


def _table(path: Path) -> Any:
    from port_server.settings import load_config_file

    return load_config_file(path).get("env")


def templates(folder: Path) -> dict[str, str]:
    """NAME -> template: the config file's ``[env]``, then the project's (which wins)."""
    from port_server.exporters.derived_env import TemplateError, check_table
    from port_server.settings import config_path_from_env

    out: dict[str, str] = {}
    for path in (config_path_from_env(), folder / PROJECT_FILE):
        try:
            out.update(check_table(_table(path), str(path)))
        except TemplateError as exc:
            raise InvalidInput(str(exc), field="env") from None
    return out


def render_for(folder: Path, allocs: list[Allocation],
               table: dict[str, str] | None = None) -> Derived:
    """The templates for ``folder`` (or ``table``) filled from ``allocs``."""
    from port_server.exporters.derived_env import Derived, TemplateError, render

    table = templates(folder) if table is None else table
    if not table:
        return Derived()
    try:
        return render(table, allocs)
    except TemplateError as exc:
        raise InvalidInput(str(exc), field="env") from None


def derived_values(client: RegistryClient, folder: Path, app: str, instance: str,
                   table: dict[str, str] | None = None) -> Derived:
    """The templates that apply to ``folder`` (or ``table``), filled from app/instance's
    allocations."""
    from port_server.exporters.derived_env import Derived
    from port_server.models import AllocationFilter

    table = templates(folder) if table is None else table
    if not table:
        return Derived()
    return render_for(folder, list(client.list(AllocationFilter(app=app, instance=instance))),
                      table)
