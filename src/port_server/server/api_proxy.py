"""``/v1/proxy``: start, stop and read the name-based HTTPS front door (Caddy).

Starting and stopping wait on Caddy (up to seconds), so they run in the thread pool.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from port_server.server.proxy import ProxyManager

router = APIRouter(tags=["proxy"])


def proxy_of(request: Request) -> ProxyManager:
    proxy: ProxyManager = request.app.state.proxy
    return proxy


@router.get("/v1/proxy")
async def proxy_status(request: Request) -> JSONResponse:
    proxy = proxy_of(request)
    await run_in_threadpool(proxy.refresh)
    return JSONResponse(await run_in_threadpool(proxy.status))


@router.post("/v1/proxy/start")
async def proxy_start(request: Request) -> JSONResponse:
    return JSONResponse(await run_in_threadpool(proxy_of(request).start))


@router.post("/v1/proxy/stop")
async def proxy_stop(request: Request) -> JSONResponse:
    return JSONResponse(await run_in_threadpool(proxy_of(request).stop))
