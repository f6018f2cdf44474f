"""POST /v1/prune: release allocations whose recorded worktree is gone (the dashboard's prune).

The server looks at the paths itself, so it sees what its own user may see: a folder it cannot
read counts as still there. ``portctl prune`` checks in the caller's process instead.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from port_server.server import schemas
from port_server.server.api import ERRORS, allocation_out, service_of

router = APIRouter()


class PruneBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dry_run: StrictBool = Field(default=False, description="list what would be released")


class PrunedOut(schemas.AllocationOut):
    reason: str


class PruneOut(BaseModel):
    dry_run: bool
    released: list[PrunedOut]
    refused: list[PrunedOut]


@router.post("/v1/prune", response_model=PruneOut, responses=ERRORS, tags=["allocations"])
def prune(request: Request, body: PruneBody | None = None) -> JSONResponse:
    """Release this host's allocations whose worktree no longer exists or is no longer a
    worktree of its repository; ``refused`` lists those the caller may not release."""
    dry_run = body.dry_run if body is not None else False
    released, refused = service_of(request).prune_worktrees(dry_run=dry_run)

    def out(items: list[Any]) -> list[dict[str, Any]]:
        return [{**allocation_out(request, a), "reason": why} for a, why in items]

    return JSONResponse({"dry_run": dry_run, "released": out(released),
                         "refused": out(refused)})
