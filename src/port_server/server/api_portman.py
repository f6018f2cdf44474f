"""portman's registry features over HTTP: ``POST /v1/import`` (all or nothing).

The other portman features use the core endpoints: metadata on ``POST /v1/allocations`` and
``PATCH /v1/allocations/{id}``, filters on ``GET /v1/allocations``, ``/v1/pools`` and
``/v1/pools/{name}/suggest``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from port_server.exporters.registry_json import parse_registry
from port_server.server import schemas
from port_server.server.api import ERRORS, service_of
from port_server.server.bulk import body_schema, off_loop

router = APIRouter()

#: An import carries a whole registry, so it may be larger than other requests (64 KiB).
MAX_IMPORT_BYTES = 16 * 1024 * 1024


class ImportEntry(BaseModel):
    """One entry in portctl's export shape (the ``fields.EXPORTED`` fields)."""

    model_config = ConfigDict(extra="ignore")

    app: schemas.Name
    instance: schemas.Name
    service: schemas.Name
    port: schemas.Port
    protocol: schemas.Protocol = "tcp"
    type: schemas.text(63) = ""  # type: ignore[valid-type]
    owner: schemas.text(256) = ""  # type: ignore[valid-type]
    environment: schemas.text(256) = ""  # type: ignore[valid-type]
    status: schemas.text(256) = ""  # type: ignore[valid-type]
    url: schemas.text(256) = ""  # type: ignore[valid-type]
    note: schemas.text(2048) = ""  # type: ignore[valid-type]
    source: schemas.text(32) = ""  # type: ignore[valid-type]
    protected: StrictBool = False
    created_at: schemas.text(64) = ""  # type: ignore[valid-type]
    updated_at: schemas.text(64) = ""  # type: ignore[valid-type]


class ImportBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    allocations: list[ImportEntry] = Field(max_length=100_000)
    force: StrictBool = Field(default=False,
                              description="let the file win over conflicting holders")
    dry_run: StrictBool = Field(default=False,
                                description="report what would happen, change nothing")


class ImportConflictOut(BaseModel):
    entry: schemas.AllocationOut
    reason: str
    holders: list[schemas.AllocationOut]
    changes: dict[str, str]


class ImportReportOut(BaseModel):
    applied: bool
    dry_run: bool
    force: bool
    added: list[schemas.AllocationOut]
    matched: list[schemas.AllocationOut]
    conflicts: list[ImportConflictOut]
    replaced: list[schemas.AllocationOut]


@router.post("/v1/import", response_model=ImportReportOut, responses=ERRORS, tags=["portman"],
             openapi_extra=body_schema(ImportBody))
async def import_registry(request: Request) -> JSONResponse:
    """Register many allocations at once. A conflict answers 409 ``import_conflict`` with the
    whole ``report`` and changes nothing, unless ``force``."""

    def apply(body: ImportBody) -> JSONResponse:
        entries = parse_registry({"allocations": [e.model_dump() for e in body.allocations]})
        report = service_of(request).import_allocations(entries, force=body.force,
                                                        dry_run=body.dry_run)
        return JSONResponse(report.to_dict())

    return await off_loop(request, ImportBody, apply)
