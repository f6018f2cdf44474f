"""POST /v1/import in process: one JSON error shape, all or nothing, a larger body limit."""

from __future__ import annotations

from typing import Any


def entry(port: int, service: str, **kw: Any) -> dict[str, Any]:
    return {"app": "imp", "instance": "i", "service": service, "port": port, **kw}


def test_import_adds_and_reports(api: Any) -> None:
    r = api.post("/v1/import", json={"allocations": [entry(4101, "a", status="active"),
                                                     entry(4102, "b", protocol="udp")]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["applied"] is True and [a["port"] for a in body["added"]] == [4101, 4102]
    assert body["added"][1]["protocol"] == "udp"
    assert body["matched"] == [] and body["conflicts"] == []
    listed = api.get("/v1/allocations", params={"app": "imp"}).json()
    assert [(a["port"], a["source"]) for a in listed] == [(4101, "import"), (4102, "import")]


def test_conflict_is_409_with_the_report_and_changes_nothing(api: Any) -> None:
    assert api.post("/v1/allocations", json={"app": "x", "instance": "i", "service": "s",
                                             "port": 4201, "force": True}).status_code == 201
    before = api.get("/v1/allocations").json()
    r = api.post("/v1/import", json={"allocations": [entry(4200, "fresh"), entry(4201, "c")]})
    assert r.status_code == 409
    body = r.json()
    assert body["code"] == "import_conflict" and "nothing was changed" in body["message"]
    assert body["report"]["applied"] is False
    assert [a["port"] for a in body["report"]["added"]] == [4200]
    assert body["report"]["conflicts"][0]["holders"][0]["app"] == "x"
    assert api.get("/v1/allocations").json() == before
    dry = api.post("/v1/import", json={"allocations": [entry(4201, "c")], "dry_run": True})
    assert dry.status_code == 200 and dry.json()["applied"] is False
    assert api.get("/v1/allocations").json() == before


def test_bad_entries_name_the_field(api: Any) -> None:
    for allocations, field in (
        ([entry(0, "a")], "allocations[0].port"),
        ([entry(4301, "ok"), entry(4302, "bad name")], "allocations[1].service"),
        ([entry(4303, "a", type="gpu")], "allocations[0].type"),
        ([entry(4304, "a", protocol="sctp")], "allocations[0].protocol"),
        ([entry(4305, "a", note=["x"])], "allocations[0].note"),
        ("nope", "allocations"),
    ):
        r = api.post("/v1/import", json={"allocations": allocations})
        assert r.status_code == 400, (allocations, r.text)
        body = r.json()
        assert body["code"] == "invalid_input"
        assert body["field"] == field, body
    assert api.get("/v1/allocations", params={"app": "imp"}).json() == []


def test_import_may_exceed_the_64k_body_limit(api: Any) -> None:
    many = [entry(10000 + i, f"svc-{i}", note="n" * 100) for i in range(800)]
    r = api.post("/v1/import", json={"allocations": many})
    assert r.status_code == 200, r.text[:200]
    assert len(r.json()["added"]) == 800
    big = {"app": "a", "instance": "i", "service": "s", "note": "n" * 70_000}
    assert api.post("/v1/allocations", json=big).status_code == 413
