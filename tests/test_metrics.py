"""/metrics: figures after known operations, per-app registries, and life without the extra."""

from __future__ import annotations

import socket
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from conftest import ServerProc, isolated_env
from port_server.models import AllocationRequest
from port_server.server.app import create_app
from port_server.service import RegistryService
from port_server.settings import load_settings
from port_server.store.sqlite import SQLiteStore

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def make_app(tmp: Path) -> tuple[Any, RegistryService]:
    settings = load_settings(env=isolated_env(tmp), config_path=tmp / "none.toml")
    service = RegistryService(SQLiteStore(tmp / "registry.db"), settings)
    return create_app(service, settings), service


def test_metrics_after_known_operations(server: ServerProc) -> None:
    for svc in ("web", "worker"):
        r = server.portctl("allocate", "--app", "shop", "--instance", "main", "--service", svc)
        assert r.returncode == 0, r.stderr
    with server.client() as c:
        db = c.allocate(AllocationRequest(app="shop", instance="main", service="db", type="db",
                                          source="compose")).allocation
        c.allocate(AllocationRequest(app="shop", instance="main", service="metrics",
                                     port=40123, force=True))
        c.release_id(db.id)
        c.allocate(AllocationRequest(app="shop", instance="main", service="db2", type="db"))
    assert server.portctl("release", "--id", "999").returncode == 1

    # Scraped over real HTTP as Prometheus would (our client speaks JSON only).
    with urllib.request.urlopen(f"http://{server.addr}/metrics", timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
        samples = scrape(resp.read().decode())

    assert value(samples, "port_server_allocations", pool="default", source="manual") == 2
    assert value(samples, "port_server_allocations", pool="db", source="manual") == 1
    assert value(samples, "port_server_allocations", pool="none", source="manual") == 1
    assert value(samples, "port_server_allocations", pool="db", source="compose") is None
    assert value(samples, "port_server_pool_used_ports", pool="db") == 1
    size = value(samples, "port_server_pool_size_ports", pool="db")
    free = value(samples, "port_server_pool_free_ports", pool="db")
    assert size == 1000 and free is not None and free <= size - 1

    # Requests are counted by route template, never by raw path.
    assert value(samples, "port_server_http_requests_total", method="POST",
                 route="/v1/allocations", status="201") == 5
    assert value(samples, "port_server_http_requests_total", method="DELETE",
                 route="/v1/allocations/{alloc_id}", status="200") == 1
    assert value(samples, "port_server_http_requests_total", method="DELETE",
                 route="/v1/allocations/{alloc_id}", status="404") == 1
    assert not any("/v1/allocations/999" in str(labels) for _, labels in samples)
    count = value(samples, "port_server_http_request_duration_seconds_count", method="POST",
                  route="/v1/allocations")
    assert count == 5
    assert value(samples, "port_server_http_request_duration_seconds_bucket", method="POST",
                 route="/v1/allocations", le="+Inf") == 5
    total = value(samples, "port_server_http_request_duration_seconds_sum", method="POST",
                  route="/v1/allocations")
    assert total is not None and 0 < total < 30


def test_unmatched_paths_share_one_label(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        for i in range(5):
            assert client.get(f"/random/{i}").status_code == 404
        client.request("BREW", "/v1/allocations")
        samples = scrape(client.get("/metrics").text)
        om = client.get("/metrics", headers={
            "Accept": "application/openmetrics-text; version=1.0.0"})
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    assert om.text.endswith("# EOF\n")
    assert value(samples, "port_server_http_requests_total", method="GET", route="unmatched",
                 status="404") == 5
    assert value(samples, "port_server_http_requests_total", method="other",
                 route="/v1/allocations", status="405") == 1


def test_each_app_has_its_own_registry(tmp_path: Path) -> None:
    app_a, svc_a = make_app(tmp_path / "a")
    app_b, _ = make_app(tmp_path / "b")
    svc_a.allocate(AllocationRequest(app="x", instance="i", service="s"))
    with TestClient(app_a, base_url="http://127.0.0.1") as a, \
            TestClient(app_b, base_url="http://127.0.0.1") as b:
        a.get("/healthz")
        a.get("/healthz")
        b.get("/healthz")
        in_a = scrape(a.get("/metrics").text)
        in_b = scrape(b.get("/metrics").text)
    route = {"method": "GET", "route": "/healthz", "status": "200"}
    assert value(in_a, "port_server_http_requests_total", **route) == 2
    assert value(in_b, "port_server_http_requests_total", **route) == 1
    assert value(in_a, "port_server_allocations", pool="default", source="manual") == 1
    assert value(in_b, "port_server_allocations", pool="default", source="manual") is None


def test_without_prometheus_client_metrics_is_a_clear_501(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes `import prometheus_client` raise ImportError, as if not installed.
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    app, _ = make_app(tmp_path)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        r = client.get("/metrics")
        assert client.get("/healthz").status_code == 200
    assert r.status_code == 501
    body = r.json()
    assert body["code"] == "feature_unavailable"
    assert "pip install '.[metrics]'" in body["message"]


def test_scan_states_and_last_scan_time(tmp_path: Path) -> None:
    app, service = make_app(tmp_path)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        service.allocate(AllocationRequest(app="x", instance="i", service="up", port=port,
                                           force=True))
        service.allocate(AllocationRequest(app="x", instance="i", service="idle"))
        before = time.time()
        with TestClient(app, base_url="http://127.0.0.1") as client:
            first = scrape(client.get("/metrics").text)
            second = scrape(client.get("/metrics").text)
    assert value(first, "port_server_scan_ports", state="ok") == 1
    assert value(first, "port_server_scan_ports", state="down") == 1
    assert value(first, "port_server_scan_ports", state="conflict") == 0
    unregistered = value(first, "port_server_scan_ports", state="unregistered")
    assert unregistered is not None and unregistered >= 0
    scanned_at = value(first, "port_server_scan_last_timestamp_seconds")
    assert scanned_at is not None and before <= scanned_at <= time.time()
    took = value(first, "port_server_scan_duration_seconds")
    assert took is not None and 0 < took < 10
    # Scrapes close together share one scan.
    assert value(second, "port_server_scan_last_timestamp_seconds") == scanned_at
