"""``/v1/proxy``: start, stop and read the name-based HTTPS front door (Caddy).

Starting and stopping wait on Caddy (up to seconds), so they run in the thread pool.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from port_server.server.api import ERRORS
from port_server.server.proxy import ProxyManager

router = APIRouter(tags=["proxy"])


def proxy_of(request: Request) -> ProxyManager:
    proxy: ProxyManager = request.app.state.proxy
    return proxy


@router.get("/v1/proxy", responses=ERRORS)
async def proxy_status(request: Request) -> JSONResponse:
    proxy = proxy_of(request)
    await run_in_threadpool(proxy.refresh)
    return JSONResponse(await run_in_threadpool(proxy.status))


def require_admin(request: Request, what: str) -> None:
    """The proxy serves every user's names: starting or stopping it is an admin's call."""
    from port_server.audit import current_actor
    from port_server.server.api import service_of

    service_of(request).authz.require_admin(current_actor(), what)


@router.post("/v1/proxy/start", responses=ERRORS)
async def proxy_start(request: Request, all_hosts: Annotated[bool | None, Query(
        description="also route other hosts' allocations (a shared registry)")] = None,
                      ) -> JSONResponse:
    # The caller's identity is a kernel lookup: off the event loop, like the start itself.
    await run_in_threadpool(require_admin, request, "start the proxy")
    return JSONResponse(await run_in_threadpool(proxy_of(request).start, all_hosts))


@router.post("/v1/proxy/stop", responses=ERRORS)
async def proxy_stop(request: Request) -> JSONResponse:
    await run_in_threadpool(require_admin, request, "stop the proxy")
    return JSONResponse(await run_in_threadpool(proxy_of(request).stop))
