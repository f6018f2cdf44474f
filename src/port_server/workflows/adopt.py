"""``adopt``: the allocations that would register what a live scan found unregistered."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from port_server.errors import ServiceHoldsPort
from port_server.models import AllocationRequest

if TYPE_CHECKING:
    from port_server.client import RegistryClient
    from port_server.models import Allocation, ScanRow


def proposal(row: ScanRow, instance: str) -> AllocationRequest:
    """The allocation ``adopt`` suggests for an unregistered row, named after its holder."""
    from port_server.models import registry_name

    lst = next((x for x in row.listeners if x.pid is not None or x.container), row.listeners[0])
    c = lst.container
    if c is not None:
        app = c.compose_project or c.name
        service = c.compose_service or c.name
    elif lst.name:
        app = service = lst.name
    else:
        app, service = "unknown", f"port-{row.port}"
    command = "".join(ch if ch >= " " else " " for ch in lst.cmdline)[:2048]
    note = f"adopted from live scan; docker container {c.name}" if c else "adopted from live scan"
    return AllocationRequest(app=registry_name(app), instance=instance,
                             service=registry_name(service), port=row.port,
                             protocol=row.protocol, force=True, source="scan", pid=lst.pid,
                             command=command, note=note)


def proposals(rows: list[ScanRow], instance: str) -> list[AllocationRequest]:
    """One proposal per row; one app/instance/service holds one port, so names that repeat
    are suffixed with their port (nginx-80, nginx-443)."""
    reqs = [proposal(row, instance) for row in rows]
    seen = Counter((r.app, r.instance, r.service) for r in reqs)
    return [r if seen[(r.app, r.instance, r.service)] == 1 else with_port_suffix(r)
            for r in reqs]


def with_port_suffix(req: AllocationRequest) -> AllocationRequest:
    from dataclasses import replace

    from port_server.models import registry_name

    suffix = f"-{req.port}" + ("-udp" if req.protocol == "udp" else "")
    return replace(req, service=registry_name(req.service[:63 - len(suffix)] + suffix))


def adopt(client: RegistryClient, req: AllocationRequest) -> Allocation:
    """Register one proposal; a name that already holds another port is named by its port."""
    try:
        result = client.allocate(req)
    except ServiceHoldsPort:
        result = client.allocate(with_port_suffix(req))
    return result.allocation
