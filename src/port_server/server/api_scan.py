"""GET /v1/scan: the live scan, run here in the server so the CLI, dashboard and agents share it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from port_server.models import NAME_PATTERN
from port_server.server import schemas
from port_server.server.api import ERRORS, service_of

router = APIRouter()


class ContainerOut(BaseModel):
    name: str
    compose_project: str = ""
    compose_service: str = ""
    container_port: int | None = None
    image: str = ""


class ListenerOut(BaseModel):
    protocol: str
    address: str
    port: int
    pid: int | None = None
    name: str = ""
    user: str = ""
    cmdline: str = ""
    pids: list[int] = []
    hidden: list[str] = []
    container: ContainerOut | None = None


class ScanRowOut(BaseModel):
    port: int
    protocol: str
    state: str
    reason: str
    allocations: list[schemas.AllocationOut]
    listeners: list[ListenerOut]


class ScanOut(BaseModel):
    rows: list[ScanRowOut]
    counts: dict[str, int]
    details: bool
    hidden: bool
    docker: str
    elapsed_ms: float


@router.get("/v1/scan", response_model=ScanOut, responses=ERRORS, tags=["scan"])
def scan(
    request: Request,
    state: Annotated[str | None, Query(pattern=schemas.SCAN_STATES_PATTERN, description=(
        "only these states, comma-separated: ok, down, unregistered, conflict, orphan"))] = None,
    app: Annotated[str | None, Query(pattern=f"^$|{NAME_PATTERN}",
                                     description="only this app's ports")] = None,
    port_range: Annotated[str | None, Query(pattern=schemas.PORT_RANGE_PATTERN,
                                            description="LO-HI, e.g. 3000-3999")] = None,
    details: Annotated[bool, Query(description=(
        "pid, process name, user, command line, container for every listener"))] = False,
) -> JSONResponse:
    """Every listening TCP and bound UDP socket joined with this host's allocations.

    One row per port and protocol; state ok (registered and listening), down (registered,
    nothing listens), unregistered (listening, not registered) or conflict (the listener is not
    the recorded pid/command, or the port is registered twice in a colliding way).
    """
    report = service_of(request).scan(state=state or None, app=app or None,
                                      port_range=port_range or None, details=details)
    return JSONResponse(report.to_dict())
