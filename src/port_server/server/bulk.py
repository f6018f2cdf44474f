"""Bulk request bodies (a whole registry to import, a Dokploy sync) parsed off the event loop.

FastAPI parses and validates a declared body on the event loop before a ``def`` endpoint runs in
the thread pool; a 10,000-entry import costs ~100 ms of that, long enough to hold up every other
request (/healthz, reads) behind it. These endpoints take the raw bytes on the loop and parse,
validate and apply them in the thread pool (``off_loop``); ``body_schema(Model)`` keeps the body
documented in /openapi.json. Validation errors are FastAPI's own, so they read as usual.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` for an endpoint whose JSON body is ``model`` (nested models inlined,
    since the schema is not among the document's components)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.rsplit("/", 1)[-1]])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": inline(schema)}}}}


async def off_loop(request: Request, model: type[M], handle: Callable[[M], T]) -> T:
    """Read the body on the loop; parse it as ``model`` and ``handle`` it in the thread pool."""
    raw = await request.body()

    def work() -> T:
        try:
            body = model.model_validate_json(raw or b"null")
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_url=False)) from None
        return handle(body)

    return await run_in_threadpool(work)
