"""portman's registry features over HTTP: ``POST /v1/import`` (all or nothing).

The other portman features use the core endpoints: metadata on ``POST /v1/allocations`` and
``PATCH /v1/allocations/{id}``, filters on ``GET /v1/allocations``, ``/v1/pools`` and
``/v1/pools/{name}/suggest``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from port_server.exporters.registry_json import parse_registry
from port_server.server import schemas
from port_server.server.api import ERRORS, service_of
from port_server.server.bulk import body_schema, off_loop

router = APIRouter()

#: An import carries a whole registry, so it may be larger than other requests (64 KiB).
MAX_IMPORT_BYTES = 16 * 1024 * 1024


class ImportBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    allocations: list[dict[str, Any]] = Field(
        max_length=100_000,
        description="entries in portctl's export shape: app, instance, service, port, and"
                    " optionally protocol, type, owner, environment, status, url, note, source,"
                    " created_at, updated_at")
    force: bool = Field(default=False, description="let the file win over conflicting holders")
    dry_run: bool = Field(default=False, description="report what would happen, change nothing")


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
        entries = parse_registry({"allocations": body.allocations})
        report = service_of(request).import_allocations(entries, force=body.force,
                                                        dry_run=body.dry_run)
        return JSONResponse(report.to_dict())

    return await off_loop(request, ImportBody, apply)
