"""The HTTP JSON API: port-registry's v1 endpoints (wire compatible) plus our additive ones.

Handlers are thin: parse, call the service, shape the answer. They are plain ``def`` functions,
so a slow database or probe call runs in the thread pool and never blocks the event loop; the
one ``async`` handler, allocate, only awaits the service's writer (``service.writer``).
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import JSONResponse

from port_server import __version__, fields
from port_server.errors import InvalidInput
from port_server.models import NAME_PATTERN, Allocation, AllocationFilter, AllocationRequest
from port_server.server import schemas
from port_server.service import RegistryService

router = APIRouter()
REQUEST_FIELDS = fields.names(request=True)

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": schemas.ErrorOut, "description": "invalid input; the message names the field"},
    404: {"model": schemas.ErrorOut, "description": "not found"},
    409: {"model": schemas.ErrorOut, "description": "conflict; `holder` names the holder"},
    401: {"model": schemas.ErrorOut, "description": "bearer token missing or wrong"},
    403: {"model": schemas.ErrorOut,
          "description": "another user's allocation, a foreign Host or a cross-site Origin"},
    405: {"model": schemas.ErrorOut, "description": "method not allowed; see the Allow header"},
    413: {"model": schemas.ErrorOut, "description": "body larger than 64 KiB"},
    415: {"model": schemas.ErrorOut, "description": "a body that is not application/json"},
    503: {"model": schemas.ErrorOut, "description": "database unavailable"},
}


def service_of(request: Request) -> RegistryService:
    svc: RegistryService = request.app.state.service
    return svc


def allocation_out(request: Request, alloc: Allocation) -> dict[str, Any]:
    """An allocation's JSON, with ``proxy_url`` (where the proxy answers for it) filled in."""
    data = alloc.to_dict()
    if alloc.http:
        data["proxy_url"] = request.app.state.proxy.url_for(alloc)
    return data


#: A name filter: a valid name, or empty (port-registry's clients send empty for "any").
QName = Annotated[str | None, Query(pattern=f"^$|{NAME_PATTERN}", max_length=63)]
HOST_DOC = "only this host's allocations; '*' for every host (default: this server's host)"
#: Changes to another host's allocation need force=true (its port cannot be probed from here).
Force = Annotated[bool, Query(description="allow changing another host's allocation")]


@router.post("/v1/allocations", status_code=201, response_model=schemas.AllocationOut,
             responses={200: {"model": schemas.AllocationOut,
                              "description": "this app/instance/service already holds a port"},
                        **ERRORS}, tags=["allocations"])
async def allocate(request: Request, body: schemas.AllocateBody) -> JSONResponse:
    # Valid bodies are answered by server/fast_path.py before FastAPI routes them; this route
    # documents the endpoint and answers what the fast path hands on (e.g. invalid bodies).
    return await allocation_response(request.app, body)


async def allocation_response(app: Any, body: schemas.AllocateBody) -> JSONResponse:
    """Allocate what ``body`` asks for: 201 with the new allocation, 200 with the one the
    app/instance/service already holds. The event loop only awaits the writer's future."""
    values = {name: getattr(body, name) for name in REQUEST_FIELDS}
    req = AllocationRequest(**{**values, "port": body.port or None}, force=body.force,
                            ttl=body.ttl)
    result = await app.state.service.allocate_async(req)
    data = result.allocation.to_dict()
    if result.allocation.http:
        data["proxy_url"] = app.state.proxy.url_for(result.allocation)
    data["created"] = result.created
    return JSONResponse(data, status_code=201 if result.created else 200)


@router.get("/v1/allocations", response_model=list[schemas.AllocationOut],
            responses=ERRORS, tags=["allocations"])
def list_allocations(
    request: Request,
    app: QName = None,
    instance: QName = None,
    service: QName = None,
    port: Annotated[schemas.QueryPort | None, Query()] = None,
    type: QName = None,
    owner: Annotated[str | None, Query(max_length=256)] = None,
    environment: Annotated[str | None, Query(max_length=256)] = None,
    status: Annotated[str | None, Query(max_length=256)] = None,
    source: Annotated[str | None, Query(max_length=32)] = None,
    protocol: Annotated[str | None, Query(pattern="^(tcp|udp)$")] = None,
    host: Annotated[str | None, Query(max_length=255, description=HOST_DOC)] = None,
) -> JSONResponse:
    # port-registry's clients send empty parameters for "any".
    flt = AllocationFilter(
        app=app or None, instance=instance or None, service=service or None, port=port,
        type=type or None, owner=owner or None, environment=environment or None,
        status=status or None, source=source or None, protocol=protocol or None,
        host=host or None)
    allocs = service_of(request).list(flt)
    return JSONResponse([allocation_out(request, a) for a in allocs])


@router.get("/v1/allocations/{alloc_id}", response_model=schemas.AllocationOut,
            responses=ERRORS, tags=["allocations"])
def get_allocation(request: Request,
                   alloc_id: Annotated[schemas.PathId, Path()]) -> JSONResponse:
    return JSONResponse(allocation_out(request, service_of(request).get(alloc_id)))


@router.delete("/v1/allocations/{alloc_id}", response_model=schemas.DeletedOut,
               responses=ERRORS, tags=["allocations"])
def release_by_id(request: Request, alloc_id: Annotated[schemas.PathId, Path()],
                  force: Force = False) -> JSONResponse:
    alloc = service_of(request).release_id(alloc_id, force=force)
    return JSONResponse({"status": "deleted", "allocation": alloc.to_dict()})


@router.delete("/v1/allocations", response_model=schemas.ReleasedOut, responses=ERRORS,
               tags=["allocations"])
def release_by_filter(request: Request,
                      body: Annotated[schemas.ReleaseBody, Body()]) -> JSONResponse:
    flt = AllocationFilter(app=body.app or None, instance=body.instance or None,
                           service=body.service or None, port=body.port or None,
                           host=body.host or None)
    released = service_of(request).release(flt, force=body.force)
    return JSONResponse({"deleted": len(released),
                         "allocations": [a.to_dict() for a in released]})


@router.patch("/v1/allocations/{alloc_id}", response_model=schemas.AllocationOut,
              responses=ERRORS, tags=["allocations"])
def update_allocation(request: Request, alloc_id: Annotated[schemas.PathId, Path()],
                      body: schemas.UpdateBody, force: Force = False) -> JSONResponse:
    changes = body.model_dump(exclude_none=True)
    force = bool(changes.pop("force", False)) or force  # in the body or the query
    if not changes:
        raise InvalidInput("body: nothing to update; give at least one field", field="body")
    alloc = service_of(request).update(alloc_id, changes, force=force)
    return JSONResponse(allocation_out(request, alloc))


@router.get("/v1/ports/{port}", response_model=schemas.PortStatusOut, responses=ERRORS,
            tags=["ports"])
def check_port(request: Request, port: Annotated[schemas.PathPort, Path()]) -> JSONResponse:
    return JSONResponse(service_of(request).check_port(port).to_dict())


@router.get("/v1/pools", response_model=list[schemas.PoolOut], tags=["pools"])
def pools(request: Request) -> JSONResponse:
    return JSONResponse([u.to_dict() for u in service_of(request).pools()])


@router.get("/v1/pools/{name}/suggest", response_model=list[int], responses=ERRORS,
            tags=["pools"])
def suggest(request: Request, name: Annotated[str, Path(max_length=63)],
            count: Annotated[schemas.Count, Query()] = 1) -> JSONResponse:
    return JSONResponse(service_of(request).suggest(name, count))


@router.get("/v1/info", tags=["health"])
def info(request: Request) -> JSONResponse:
    svc = service_of(request)
    return JSONResponse({
        "version": __version__,
        "pid": os.getpid(),
        "host": svc.host,
        "data_dir": str(request.app.state.settings.data_dir),
        "store": svc.raw_store.__class__.__name__,
        "migrations": svc.store.applied_migrations(),
        "ephemeral_range": list(svc.policy.ephemeral) if svc.policy.ephemeral else None,
        "skip_ports": sorted(svc.policy.skip_ports),
        # Group commits so far: batches, requests, largest batch, faults.
        "writer": svc.writer.stats.to_dict(),
    })
