"""The dashboard: one HTML page at ``/`` and its script and style sheet, shipped in the package.

Everything the page needs lives in ``server/static/`` (no CDN, no build step), so it works offline.
The page is a plain client of the JSON API (``/v1/allocations``, ``/v1/pools``, ``/v1/scan``); it
adds no endpoint of its own, so its writes meet exactly the checks every other client meets.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response

from port_server.errors import NotFound

router = APIRouter(include_in_schema=False)

#: The files the page is made of, and the media type each is served with.
ASSETS: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}

#: Only our own files may load, nothing may frame the page, and no form posts anywhere: even if
#: a value the page shows carried markup, a browser would refuse to run or send it elsewhere.
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # The page polls the API itself; a stale copy of the page or script after an upgrade would
    # talk to an API it does not match.
    "Cache-Control": "no-cache",
}


@cache
def asset_bytes(name: str) -> bytes:
    return resources.files("port_server.server").joinpath("static", name).read_bytes()


def asset_response(name: str) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFound(f"no such dashboard file: {name}; the dashboard is at /")
    return Response(asset_bytes(name), media_type=media_type, headers=SECURITY_HEADERS)


@router.get("/")
def index() -> Response:
    return asset_response("index.html")


@router.get("/static/{name}")
def static_file(name: Annotated[str, Path(max_length=64)]) -> Response:
    return asset_response(name)
