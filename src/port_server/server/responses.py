"""The one shape of an error response, used by the app's handlers and the middleware before it."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from port_server.errors import PortServerError


def error_response(err: PortServerError, headers: dict[str, str] | None = None) -> JSONResponse:
    """``{"error", "code", "message", ...}`` with the status the class names (and Retry-After)."""
    if err.retry_after is not None:
        headers = {"Retry-After": str(err.retry_after), **(headers or {})}
    return JSONResponse(err.to_json(), status_code=err.http_status, headers=headers)
