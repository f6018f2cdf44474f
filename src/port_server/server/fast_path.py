"""The hot route, ``POST /v1/allocations``, answered without FastAPI's routing and dependency
solving, which cost more CPU per allocation than the allocation itself (route matching over
every route, then the body as a dependency). It sits inside the other middleware (metrics, the
hardening guards, the body limit), so a request meets the same checks; a body that is not a
valid allocation request is handed on to FastAPI unchanged, which answers it exactly as before
(the same one-line 400 naming the field). Only the happy path and the service's own refusals
(``PortServerError``, answered as the app's handler does) are shortcut.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from port_server.errors import PortServerError
from port_server.server import schemas
from port_server.server.responses import error_response

PATH = "/v1/allocations"


class FastAllocate:
    def __init__(self, app: ASGIApp, fastapi_app: Any) -> None:
        from port_server.server.api import allocation_response, router

        self.app = app
        self.fastapi_app = fastapi_app
        self.answer = allocation_response
        #: The documented route: metrics label the request with it, as FastAPI's router would.
        self.route = next(r for r in router.routes
                          if getattr(r, "path", None) == PATH
                          and "POST" in (getattr(r, "methods", None) or ()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH
                or scope.get("query_string")):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: FastAPI's business
                await self.app(scope, _replay(b"".join(chunks), receive, message), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        try:
            parsed = schemas.AllocateBody.model_validate(json.loads(body))
        except (ValueError, ValidationError):  # FastAPI words the error, as for every route
            await self.app(scope, _replay(body, receive), send)
            return
        scope["route"] = self.route
        try:
            response = await self.answer(self.fastapi_app, parsed)
        except PortServerError as exc:
            response = error_response(exc)
        await response(scope, receive, send)


def _replay(body: bytes, receive: Receive, then: Message | None = None) -> Receive:
    """A receive that gives ``body`` again (it was read already), then the real stream."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return then if then is not None else await receive()

    return replayed
