"""The HTTP API in process: port-registry v1 wire compatibility, validation and the error shape."""

from __future__ import annotations

import socket
from typing import Any

import pytest

BODY = {"app": "myapp", "instance": "dev", "service": "postgres"}


def assert_error(resp: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) >= {"error", "code", "message"}
    assert isinstance(body["error"], str) and body["error"]
    if code:
        assert body["code"] == code
    return dict(body)


def test_allocate_created_then_idempotent(api: Any) -> None:
    r = api.post("/v1/allocations", json=BODY)
    assert r.status_code == 201
    first = r.json()
    assert {"id", "app", "instance", "service", "port", "created_at"} <= set(first)
    assert (first["app"], first["instance"], first["service"]) == ("myapp", "dev", "postgres")
    again = api.post("/v1/allocations", json=BODY)
    assert again.status_code == 200
    assert again.json()["port"] == first["port"] and again.json()["id"] == first["id"]


def test_port_zero_means_auto(api: Any) -> None:
    r = api.post("/v1/allocations", json={**BODY, "port": 0})
    assert r.status_code == 201 and r.json()["port"] > 0


def test_explicit_port_conflict_names_holder(api: Any) -> None:
    api.post("/v1/allocations", json={**BODY, "port": 41001, "force": True})
    r = api.post("/v1/allocations", json={"app": "other", "instance": "x", "service": "y",
                                          "port": 41001})
    body = assert_error(r, 409, "port_allocated")
    assert body["error"] == "port already allocated"
    assert body["holder"]["app"] == "myapp" and body["holder"]["port"] == 41001


def test_same_service_other_port_is_conflict(api: Any) -> None:
    api.post("/v1/allocations", json={**BODY, "port": 41002, "force": True})
    r = api.post("/v1/allocations", json={**BODY, "port": 41003})
    body = assert_error(r, 409, "service_holds_port")
    assert "41002" in body["message"]


@pytest.mark.parametrize(("payload", "field"), [
    ({"instance": "dev", "service": "pg"}, "app"),
    ({"app": "a", "service": "pg"}, "instance"),
    ({"app": "a", "instance": "i"}, "service"),
    ({**BODY, "port": 70000}, "port"),
    ({**BODY, "port": -1}, "port"),
    ({**BODY, "app": ""}, "app"),
    ({**BODY, "app": "-leading"}, "app"),
    ({**BODY, "app": "x" * 64}, "app"),
    ({**BODY, "service": "has space"}, "service"),
    ({**BODY, "protocol": "sctp"}, "protocol"),
    ({**BODY, "type": "nosuchpool"}, "type"),
])
def test_bad_input_names_the_field(api: Any, payload: dict[str, Any], field: str) -> None:
    body = assert_error(api.post("/v1/allocations", json=payload), 400, "invalid_input")
    assert body["field"] == field
    assert body["message"].startswith(field)
    assert api.get("/v1/allocations").json() == []


def test_invalid_json_and_non_object(api: Any) -> None:
    r = api.post("/v1/allocations", content=b"{not json",
                 headers={"Content-Type": "application/json"})
    assert "invalid JSON" in assert_error(r, 400)["message"]
    assert_error(api.post("/v1/allocations", json=[1, 2]), 400)


def test_unknown_fields_ignored(api: Any) -> None:
    r = api.post("/v1/allocations", json={**BODY, "colour": "blue"})
    assert r.status_code == 201


def test_body_over_64k_refused(api: Any) -> None:
    r = api.post("/v1/allocations", json={**BODY, "note": "x" * (70 * 1024)})
    assert_error(r, 413, "payload_too_large")
    assert api.get("/v1/allocations").json() == []


def test_list_filters_and_empty(api: Any) -> None:
    assert api.get("/v1/allocations").json() == []
    for svc in ("a", "b"):
        api.post("/v1/allocations", json={**BODY, "service": svc})
    api.post("/v1/allocations", json={"app": "other", "instance": "dev", "service": "a"})
    assert len(api.get("/v1/allocations").json()) == 3
    assert len(api.get("/v1/allocations", params={"app": "myapp"}).json()) == 2
    assert len(api.get("/v1/allocations", params={"app": "myapp", "service": "b"}).json()) == 1
    # port-registry's client sends empty parameters for "any"
    assert len(api.get("/v1/allocations?app=&instance=&service=").json()) == 3


def test_check_port(api: Any) -> None:
    alloc = api.post("/v1/allocations", json={**BODY, "port": 41004, "force": True}).json()
    r = api.get("/v1/ports/41004")
    assert r.status_code == 200
    assert r.json()["available"] is False and r.json()["holder"]["id"] == alloc["id"]
    with socket.socket() as s:  # a port nothing holds: bound, released, not yet reused
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    assert api.get(f"/v1/ports/{free}").json() == {
        "port": free, "available": True, "registered": False, "in_use": False, "processes": []}
    for bad in ("abc", "0", "70000", "-5"):
        assert_error(api.get(f"/v1/ports/{bad}"), 400, "invalid_input")


def test_delete_by_id(api: Any) -> None:
    alloc = api.post("/v1/allocations", json=BODY).json()
    r = api.delete(f"/v1/allocations/{alloc['id']}")
    assert r.status_code == 200 and r.json()["status"] == "deleted"
    body = assert_error(api.delete(f"/v1/allocations/{alloc['id']}"), 404)
    assert body["error"] == "allocation not found"
    assert_error(api.delete("/v1/allocations/abc"), 400)


def test_delete_by_filter(api: Any) -> None:
    for svc in ("a", "b", "c"):
        api.post("/v1/allocations", json={**BODY, "service": svc})
    api.post("/v1/allocations", json={"app": "keep", "instance": "dev", "service": "a"})
    r = api.request("DELETE", "/v1/allocations", json={"app": "myapp", "service": "a"})
    assert r.status_code == 200 and r.json()["deleted"] == 1
    r = api.request("DELETE", "/v1/allocations", json={"app": "myapp"})
    assert r.json()["deleted"] == 2
    assert_error(api.request("DELETE", "/v1/allocations", json={}), 400)
    assert [a["app"] for a in api.get("/v1/allocations").json()] == ["keep"]


def test_patch_updates_metadata_only(api: Any) -> None:
    alloc = api.post("/v1/allocations", json=BODY).json()
    r = api.patch(f"/v1/allocations/{alloc['id']}", json={"status": "inactive", "note": "n"})
    assert r.status_code == 200
    assert (r.json()["port"], r.json()["status"], r.json()["note"]) == (
        alloc["port"], "inactive", "n")
    assert_error(api.patch(f"/v1/allocations/{alloc['id']}", json={}), 400)
    assert_error(api.patch("/v1/allocations/999", json={"status": "x"}), 404)


def test_health_openapi_and_unknown_route(api: Any) -> None:
    assert api.get("/healthz").json()["status"] == "ok"
    spec = api.get("/openapi.json").json()
    assert "/v1/allocations" in spec["paths"] and "/v1/ports/{port}" in spec["paths"]
    assert_error(api.get("/nope"), 404)
    assert_error(api.put("/v1/allocations"), 405)
