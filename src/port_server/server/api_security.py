"""The security endpoints: who am I, lease renewal, garbage collection, the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from port_server.audit import current_actor
from port_server.errors import InvalidInput
from port_server.leases import iso_after
from port_server.models import AUDIT_ACTIONS, AuditFilter, parse_duration
from port_server.server import schemas
from port_server.server.api import ERRORS, service_of

router = APIRouter()


class RenewBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    ttl: schemas.Ttl


class GcBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    dry_run: StrictBool = Field(default=False, description="only list what would be reclaimed")


@router.get("/v1/whoami", tags=["security"])
def whoami(request: Request) -> JSONResponse:
    """The caller as the server sees it (kernel uid, name, admin)."""
    who = current_actor()
    svc = service_of(request)
    return JSONResponse({"name": who.name, "uid": who.uid, "via": who.via,
                         "admin": svc.is_admin(who)})


@router.post("/v1/allocations/{alloc_id}/renew", responses=ERRORS, tags=["allocations"])
def renew(request: Request, alloc_id: Annotated[schemas.PathId, Path()],
          body: RenewBody) -> JSONResponse:
    return JSONResponse(service_of(request).renew(alloc_id, body.ttl).to_dict())


@router.post("/v1/gc", responses=ERRORS, tags=["allocations"])
def gc(request: Request, body: Annotated[GcBody | None, Body()] = None) -> JSONResponse:
    """Reclaim expired and dead-process leases now (``dry_run``: only list them)."""
    dry_run = body.dry_run if body else False
    reclaimed = service_of(request).reap(dry_run=dry_run, actor=current_actor())
    return JSONResponse({"dry_run": dry_run, "reclaimed": [
        {"allocation": a.to_dict(), "reason": reason} for a, reason in reclaimed]})


@router.get("/v1/log", responses=ERRORS, tags=["security"])
def audit_log(
    request: Request,
    app: Annotated[str | None, Query(max_length=63)] = None,
    port: Annotated[schemas.QueryPort | None, Query()] = None,
    action: Annotated[str | None, Query(pattern=f"^({'|'.join(AUDIT_ACTIONS)})$")] = None,
    actor: Annotated[str | None, Query(max_length=256)] = None,
    since: Annotated[str | None, Query(
        description="an RFC 3339 time, or a duration ago: 1h, 2d",
        json_schema_extra=schemas.since_schema)] = None,
    limit: Annotated[schemas.Limit, Query()] = 1000,
) -> JSONResponse:
    svc = service_of(request)
    if action is not None and action not in AUDIT_ACTIONS:
        raise InvalidInput(f"action: {action!r} is not one of {', '.join(AUDIT_ACTIONS)}",
                           field="action")
    when = since_time(since, svc.clock()) if since is not None else None
    flt = AuditFilter(app=app or None, port=port, action=action, actor=actor or None,
                      since=when, limit=limit)
    return JSONResponse([e.to_dict() for e in svc.log(flt)])


def since_time(text: str, now: str) -> str:
    """'2h' -> now minus two hours; an RFC 3339 time -> itself, normalised to the log's format."""
    import re

    if re.match(schemas.DURATION_PATTERN, text):
        return iso_after(now, -parse_duration(text, "since"))
    from datetime import UTC, datetime

    try:
        if not re.match(schemas.RFC3339_PATTERN, text):
            raise ValueError(text)
        when = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    except ValueError:
        raise InvalidInput(f"since: {text!r} is neither a duration (2h) nor an RFC 3339 time"
                           " (2026-01-31T12:00:00Z)", field="since") from None
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
