"""Strict types on the wire, and one definition of an allocation behind every shape of it."""

from __future__ import annotations

from typing import Any

import pytest

from port_server import errors, fields
from port_server.exporters.csv_table import CSV_COLUMNS
from port_server.models import Allocation
from port_server.store.base import ALLOCATION_COLUMNS

BASE = {"app": "web", "instance": "main", "service": "api"}


@pytest.mark.parametrize("body, field", [
    ({"port": True}, "port"),
    ({"port": "4001"}, "port"),
    ({"port": 4001.5}, "port"),
    ({"port": 70000}, "port"),
    ({"ttl": True}, "ttl"),
    ({"ttl": 0}, "ttl"),
    ({"ttl": "2 fortnights"}, "ttl"),
    ({"protected": "yes"}, "protected"),
    ({"force": 1}, "force"),
    ({"pid": "123"}, "pid"),
    ({"note": "two\nlines"}, "note"),
    ({"app": 5}, "app"),
])
def test_allocate_refuses_values_of_the_wrong_type(api: Any, body: dict[str, Any],
                                                   field: str) -> None:
    r = api.post("/v1/allocations", json={**BASE, **body})
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "invalid_input" and r.json()["field"] == field
    assert api.get("/v1/allocations").json() == []  # nothing changed


def test_integral_numbers_and_durations_are_accepted(api: Any) -> None:
    r = api.post("/v1/allocations", json={**BASE, "port": 4001.0, "ttl": "2h"})
    assert r.status_code == 201, r.text
    assert r.json()["port"] == 4001 and r.json()["expires_at"]
    r = api.post("/v1/allocations/1/renew", json={"ttl": 90})
    assert r.status_code == 200, r.text
    r = api.patch("/v1/allocations/1", json={"protected": 1})
    assert r.status_code == 400 and r.json()["field"] == "protected"


@pytest.mark.parametrize("path", ["/v1/ports/8_0", "/v1/ports/+80", "/v1/ports/0",
                                  "/v1/ports/65536", "/v1/ports/abc",
                                  "/v1/allocations?port=8_0", "/v1/allocations/1_0",
                                  "/v1/pools/web/suggest?count=1_0"])
def test_numbers_in_paths_and_queries_are_plain_digits(api: Any, path: str) -> None:
    r = api.get(path)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "invalid_input"


def test_a_wrong_method_is_405_with_allow_and_a_code_of_the_tree(api: Any) -> None:
    r = api.put("/v1/allocations")
    assert r.status_code == 405
    assert set(r.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST", "DELETE"}
    assert r.json()["code"] == "method_not_allowed"
    r = api.get("/v1/nothing-here")
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_openapi_documents_exactly_the_allocation_and_the_error_codes(api: Any) -> None:
    doc = api.get("/openapi.json").json()
    out = doc["components"]["schemas"]["AllocationOut"]["properties"]
    assert list(out) == list(fields.ALLOCATION_FIELDS)
    codes = doc["components"]["schemas"]["ErrorOut"]["properties"]["code"]["enum"]
    assert set(codes) == {cls.code for cls in errors._all_subclasses(errors.PortServerError)}
    body = doc["components"]["schemas"]["AllocateBody"]["properties"]
    assert set(fields.names(request=True)) <= set(body)
    assert body["type"]["enum"] == sorted({"", "auto", "api", "db", "default", "dynamic", "ml",
                                           "monitoring", "web"})
    update = doc["components"]["schemas"]["UpdateBody"]["properties"]
    assert set(update) == {*fields.UPDATABLE, "force"}


def test_every_shape_of_an_allocation_derives_from_the_one_table() -> None:
    assert list(fields.ALLOCATION_FIELDS) == list(Allocation._fields)
    assert tuple(n for n in Allocation._fields if n != "proxy_url") == ALLOCATION_COLUMNS
    assert tuple(Allocation._fields) == CSV_COLUMNS
    for name, spec in fields.ALLOCATION_FIELDS.items():
        assert spec.kind in {"id", "pid", "port", "name", "protocol", "pool", "text", "path",
                             "bool", "float", "time"}, name
        if spec.kind in ("text", "pool", "name", "time", "path"):
            assert spec.limit > 0, name
