"""The dashboard's files, served in process: shipped in the package, self-contained, locked down."""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

import pytest

from port_server.server.dashboard import ASSETS

STATIC = resources.files("port_server.server").joinpath("static")


def test_index_is_served_with_its_assets_and_security_headers(api: Any) -> None:
    r = api.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    for src in re.findall(r'(?:src|href)="(/static/[^"]+)"', r.text):
        asset = api.get(src)
        assert asset.status_code == 200, src
        assert asset.headers["content-type"] == ASSETS[src.rsplit("/", 1)[1]]
    assert {"/static/app.js", "/static/app.css"} <= set(
        re.findall(r'(?:src|href)="(/static/[^"]+)"', r.text))


@pytest.mark.parametrize("name", ["nope.js", "..%2Fapi.py", "index.htm"])
def test_unknown_static_files_are_404_json(api: Any, name: str) -> None:
    r = api.get(f"/static/{name}")
    assert r.status_code == 404
    assert r.json()["code"] in ("not_found", "invalid_input")
    assert "import" not in r.text


@pytest.mark.parametrize("name", sorted(ASSETS))
def test_assets_load_nothing_from_elsewhere(name: str) -> None:
    """The page works offline: no URL in our files points at another host."""
    text = STATIC.joinpath(name).read_text()
    # A URL with a host, as an attribute value, a string or a CSS url(): "//cdn...", "https://..."
    external = re.findall(r"""["'`(=]\s*(?:[a-z]+:)?//[A-Za-z0-9]""", text)
    assert external == []
    assert "@import" not in text


def test_page_script_never_writes_markup() -> None:
    """Values from the server reach the page through textContent only."""
    script = STATIC.joinpath("app.js").read_text()
    writes = re.findall(r"\.(?:inner|outer)HTML\b|insertAdjacentHTML|document\.write|"
                        r"\beval\(|new Function|setAttribute\(\s*[\"']on", script)
    assert writes == []


def test_dashboard_is_not_in_the_api_schema(api: Any) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    assert "/" not in paths and "/metrics" not in paths
