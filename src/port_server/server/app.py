"""``create_app(service, settings)``: the ASGI application, with the one place errors become HTTP.

Every error leaves as ``{"error", "code", "message", ...}`` with the status its class names; bad
input is always a 4xx naming the field, never a 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from port_server import __version__
from port_server.defaults import MAX_BODY_BYTES
from port_server.errors import (
    InvalidInput,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    PortServerError,
    Unauthorized,
    UnsupportedMediaType,
)
from port_server.server.responses import error_response
from port_server.service import RegistryService
from port_server.settings import Settings

log = logging.getLogger("port_server")


def allowed_methods(app: FastAPI, request: Request, fallback: str = "") -> str:
    """Every method the API document serves at this path (the Allow header of a 405)."""
    import re

    methods: set[str] = set()
    for template, item in app.openapi().get("paths", {}).items():
        if re.fullmatch(re.sub(r"\{[^/]+\}", "[^/]+", template), request.url.path):
            methods |= {m.upper() for m in item}
    return ", ".join(sorted(methods)) or fallback


def http_error(request: Request, exc: StarletteHTTPException,
               allowed: str = "") -> PortServerError:
    """Starlette's own refusals (no such route, wrong method) as classes of the one tree."""
    if exc.status_code == 404:
        return NotFound(f"no such endpoint: {request.method} {request.url.path}")
    if exc.status_code == 405:
        return MethodNotAllowed(f"{request.method} is not allowed on {request.url.path};"
                                f" use {allowed or 'another method'}")
    cls = {401: Unauthorized, 403: PermissionDenied, 413: PayloadTooLarge,
           415: UnsupportedMediaType}.get(exc.status_code, InvalidInput)
    return cls(str(exc.detail))


def validation_message(exc: RequestValidationError) -> InvalidInput:
    """The first problem pydantic found, as one line that names the field."""
    errors = exc.errors()
    if not errors:
        return InvalidInput("invalid request")
    first = errors[0]
    loc = list(first.get("loc", ()))
    if loc and loc[0] in ("body", "query", "path", "header"):  # where it was, not a field name
        loc = loc[1:]
    kind = first.get("type", "")
    if kind == "json_invalid":
        return InvalidInput("invalid JSON: the request body could not be parsed", field="body")
    # allocations[0].port, as the service names a batch entry's fields
    field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    field = field or "body"
    if kind == "missing":
        return InvalidInput(f"{field}: field required", field=field)
    if kind == "model_attributes_type" or (field == "body" and "dict" in kind):
        return InvalidInput("body: must be a JSON object", field="body")
    msg = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    # A name too long breaks the same rule as a name with a bad character: say it the same way.
    if kind == "string_too_long" and loc and loc[-1] in ("app", "instance", "service"):
        msg = ("must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit")
    elif kind == "string_pattern_mismatch":
        from port_server.server.schemas import pattern_hint

        msg = pattern_hint(str((first.get("ctx") or {}).get("pattern", "")), first.get("input"))
    elif kind == "string_too_long":
        msg = f"must be at most {(first.get('ctx') or {}).get('max_length', '?')} characters"
    return InvalidInput(f"{field}: {msg}", field=field)


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes before they are read into memory."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES,
                 path_limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.limit = limit
        #: Larger limits for path prefixes whose bodies are lists (e.g. a whole Dokploy sync).
        self.path_limits = path_limits or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        limit = next((n for prefix, n in self.path_limits.items() if path.startswith(prefix)),
                     self.limit)
        too_large = PayloadTooLarge(f"body: larger than {limit} bytes; send less", field="body")
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    await error_response(too_large)(scope, receive, send)
                    return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise too_large
            return message

        await self.app(scope, limited_receive, send)


def add_hardening(app: FastAPI, settings: Settings) -> None:
    """The security guards (Host, Origin, Content-Type, bearer token) and the caller identity."""
    from port_server.server.api_security import router as security_router
    from port_server.server.hardening import Hardening, read_token

    sec = settings.security
    app.include_router(security_router)
    extra_hosts = [*sec.allowed_hosts]
    if settings.host not in ("", "0.0.0.0", "::"):
        extra_hosts.append(settings.host.lower())
    token = read_token(sec.token_file) if sec.token_file else None
    app.add_middleware(Hardening, allowed_hosts=extra_hosts, token=token)


def create_app(service: RegistryService, settings: Settings) -> FastAPI:
    from fastapi.openapi.utils import get_openapi

    from port_server.server import (
        api,
        api_health,
        api_portman,
        api_proxy,
        api_prune,
        api_scan,
        api_sync,
        dashboard,
        metrics,
        schemas,
    )
    from port_server.server.fast_path import FastAllocate
    from port_server.server.proxy import ProxyManager

    app = FastAPI(
        title="port-server",
        version=__version__,
        description="A port registry: hands out host ports that never collide.",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.service = service
    app.state.settings = settings
    app.state.readiness = api_health.Readiness(service.raw_store, service.writer)
    app.state.proxy = ProxyManager(service, settings)

    @app.exception_handler(PortServerError)
    async def _domain_error(request: Request, exc: PortServerError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # Starlette names only the first route's methods
            headers["Allow"] = allowed_methods(app, request, headers.get("Allow", ""))
        return error_response(http_error(request, exc, headers.get("Allow", "")), headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        store = service.raw_store
        if isinstance(exc, store.store_errors):  # a driver error no layer named: still a 503
            return error_response(store.fault(exc))
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        body = {"error": "internal error", "code": "internal",
                "message": f"internal error: {type(exc).__name__}; see the server log"}
        return JSONResponse(body, status_code=500)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = schemas.with_pools(get_openapi(
                title=app.title, version=app.version, description=app.description,
                routes=app.routes), list(settings.pools))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.include_router(api_health.router)
    app.include_router(api.router)
    app.include_router(api_sync.router)
    app.include_router(api_scan.router)
    app.include_router(dashboard.router)
    app.include_router(metrics.router)
    app.include_router(api_portman.router)
    app.include_router(api_proxy.router)
    app.include_router(api_prune.router)
    # First added, so innermost: it sees a request only after the body limit, the hardening
    # guards and the metrics did (server/fast_path.py).
    app.add_middleware(FastAllocate, fastapi_app=app)
    app.add_middleware(BodyLimit, path_limits={"/v1/sync/": api_sync.SYNC_BODY_LIMIT,
                                               "/v1/import": api_portman.MAX_IMPORT_BYTES})
    add_hardening(app, settings)
    # Last, so it is the outermost middleware and counts every answer, refusals included.
    metrics.install(app, service)
    return app
