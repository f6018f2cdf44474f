"""POST /v1/sync/dokploy: bring the registry in step with what Dokploy publishes, in one call.

The CLI reads Dokploy and sends the desired allocations; the plan is computed and applied inside one
service transaction, so a failure changes nothing and a dry run only reads.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from port_server.integrations.sync_plan import summary
from port_server.models import AllocationRequest
from port_server.server import schemas
from port_server.server.api import ERRORS, service_of
from port_server.server.bulk import body_schema, off_loop

router = APIRouter()

#: Sync bodies may list many services; the route gets a larger body limit than the default.
SYNC_BODY_LIMIT = 4 * 1024 * 1024
MAX_ITEMS = 10_000


class SyncItem(BaseModel):
    model_config = ConfigDict(extra="ignore")

    app: schemas.Name
    instance: schemas.Name
    service: schemas.Name
    port: schemas.Port
    protocol: schemas.Protocol = "tcp"
    type: schemas.text(63) = ""  # type: ignore[valid-type]
    environment: schemas.text(256) = ""  # type: ignore[valid-type]
    status: schemas.text(256) = ""  # type: ignore[valid-type]
    url: schemas.text(256) = ""  # type: ignore[valid-type]
    note: schemas.text(2048) = ""  # type: ignore[valid-type]


class SyncBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    allocations: list[SyncItem] = Field(max_length=MAX_ITEMS)
    dry_run: StrictBool = False
    host: schemas.Name | None = Field(
        default=None, description="registry host to sync (default: the server's own)")


class PlanItemOut(BaseModel):
    action: str
    app: str
    instance: str
    service: str
    port: int
    protocol: str
    id: int | None = None
    detail: str = ""
    old_port: int | None = None
    changes: dict[str, list[object]] = {}


class SyncOut(BaseModel):
    source: str
    host: str
    dry_run: bool
    summary: dict[str, int]
    plan: list[PlanItemOut]


@router.post("/v1/sync/dokploy", response_model=SyncOut, responses=ERRORS, tags=["sync"],
             openapi_extra=body_schema(SyncBody))
async def sync_dokploy(request: Request) -> JSONResponse:
    svc = service_of(request)

    def apply(body: SyncBody) -> JSONResponse:
        desired = [AllocationRequest(
            app=i.app, instance=i.instance, service=i.service, port=i.port, protocol=i.protocol,
            type=i.type, environment=i.environment, status=i.status, url=i.url, note=i.note,
            source="dokploy") for i in body.allocations]
        plan = svc.sync("dokploy", desired, dry_run=body.dry_run, host=body.host)
        return JSONResponse({"source": "dokploy", "host": body.host or svc.host,
                             "dry_run": body.dry_run, "summary": summary(plan),
                             "plan": [it.to_dict() for it in plan]})

    return await off_loop(request, SyncBody, apply)
