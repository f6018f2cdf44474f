"""The one naming rule at work: ``.env`` values for a project and compose ``ports:`` snippets.

A port's variable is the one the project's compose file (or dev-server file) references for it,
else ``<SERVICE>_PORT`` (``up.port_variable``); ``--var`` overrides win. The derived values of
the ``[env]`` templates are added to the ports (``derived``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from port_server.errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from port_server.client import RegistryClient


def env_values(client: RegistryClient, app: str, instance: str,
               overrides: Mapping[str, str], folder: Path | None = None,
               skipped: dict[str, str] | None = None) -> dict[str, int | str]:
    """{NAME: value} for app/instance's allocations and the derived values of ``folder``.

    NAME follows the one rule (``up.port_variable``): ``overrides`` (--var), else the variable
    the compose file in ``folder`` references, else SERVICE_PORT. Templates naming a service
    with no allocation are left out, with the reason in ``skipped``."""
    from port_server.workflows.derived import render_for
    from port_server.workflows.project import allocation_filter
    from port_server.workflows.project_plan import env_var_for
    from port_server.workflows.up import compose_variables

    allocs = sorted(client.list(allocation_filter(app, instance)), key=lambda a: a.service)
    names = compose_variables(folder) if folder is not None else {}
    values: dict[str, int | str] = {
        overrides.get(a.service) or names.get(a.service) or env_var_for(a.service): a.port
        for a in allocs}
    if folder is not None:
        derived = render_for(folder, list(allocs))
        values.update(derived.values)
        if skipped is not None:
            skipped.update(derived.skipped)
    return values


def compose_port_entries(services: list[str], container_port: int | None,
                         overrides: Mapping[str, str],
                         folder: Path | None = None) -> list[dict[str, Any]]:
    """A compose ``ports:`` mapping per service: ``${VAR:-N}:N``, the host port from a variable
    (the one naming rule, as ``env`` and ``up`` use it) defaulting to the container port, from
    the well-known table or ``container_port``."""
    from port_server.workflows.project_plan import KNOWN_CONTAINER_PORTS, env_var_for
    from port_server.workflows.up import compose_variables

    names = compose_variables(folder) if folder is not None else {}

    entries = []
    for service in services:
        container = container_port or KNOWN_CONTAINER_PORTS.get(service.lower())
        if container is None:
            raise InvalidInput(f"no known container port for {service!r}; pass"
                               " --container-port N", field="container_port")
        var = overrides.get(service) or names.get(service) or env_var_for(service)
        entries.append({"service": service, "variable": var, "container_port": container,
                        "mapping": f"${{{var}:-{container}}}:{container}"})
    return entries
