"""``GET /metrics``: Prometheus text format via prometheus-client (the optional ``metrics`` extra).

Each app gets its own ``CollectorRegistry`` (never the process-global one), so tests and several
apps in one process do not share or clash over counters. Two kinds of figures:

- request figures, counted by ``RequestMetrics``, a small ASGI middleware that labels each request
  with its route template (``/v1/allocations/{alloc_id}``), never the raw path, so the number of
  series stays bounded whatever clients send;
- registry figures (allocations by pool and source, pool occupancy, live scan states), read from
  the service by ``RegistryCollector`` at scrape time, so they can never drift from the store or
  the machine (the scan is re-run at most every few seconds, see ``LatestScan``).

Without prometheus-client the route answers 501 with the usual JSON error body.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from port_server.errors import FeatureUnavailable, PortServerError
from port_server.models import Allocation
from port_server.service import RegistryService

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

router = APIRouter(include_in_schema=False)
log = logging.getLogger("port_server")

NAMESPACE = "port_server"
#: Request latency buckets in seconds: a local registry answers in well under a millisecond to a
#: few milliseconds; the tail buckets catch a slow disk or a busy machine.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
#: Methods outside this set are counted as "other", so a client cannot mint label values.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Label of requests that matched no route (404s, probes of random paths).
UNMATCHED = "unmatched"


def pool_of(alloc: Allocation, service: RegistryService) -> str:
    """The pool an allocation counts against: its type (the pool auto-assign drew it from), else
    "default" when the port lies in the default pool, else "none" (an explicit port elsewhere)."""
    if alloc.type:
        return alloc.type
    default = service.settings.pools.get("default")
    return "default" if default is not None and alloc.port in default else "none"


@dataclass(frozen=True)
class ScanFigures:
    counts: dict[str, int]  # ports per live state
    at: float  # unix time the scan ran
    seconds: float  # how long it took


#: Where the collector gets live-scan figures; None when there are none to give.
ScanSource = Callable[[], ScanFigures | None]


class LatestScan:
    """Runs the live scan for a scrape, at most once per ``max_age`` seconds, so that several
    scrapers (or a fast one) cost one scan. A failing scan leaves the figures out, never the
    rest of /metrics."""

    def __init__(self, service: RegistryService, max_age: float = 5.0) -> None:
        self.service = service
        self.max_age = max_age
        self._lock = threading.Lock()
        self._last: ScanFigures | None = None

    def __call__(self) -> ScanFigures | None:
        with self._lock:
            if self._last is None or time.time() - self._last.at >= self.max_age:
                try:
                    report = self.service.scan()
                except (PortServerError, OSError):
                    log.warning("live scan for /metrics failed", exc_info=True)
                    return self._last
                self._last = ScanFigures(report.counts(), time.time(), report.elapsed_ms / 1000)
            return self._last


class RegistryCollector:
    """Reads allocations, pools and the live scan from the service on every scrape."""

    def __init__(self, service: RegistryService, scan_source: ScanSource | None = None) -> None:
        self.service = service
        self.scan_source = scan_source

    def describe(self) -> list[Any]:
        # Nothing to describe up front: registering must not query the store.
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        allocations = GaugeMetricFamily(
            f"{NAMESPACE}_allocations", "Allocations held on this host, by pool and source.",
            labels=["pool", "source"])
        counts = Counter((pool_of(a, self.service), a.source) for a in self.service.list())
        for (pool, source), n in sorted(counts.items()):
            allocations.add_metric([pool, source], n)
        yield allocations

        size = GaugeMetricFamily(f"{NAMESPACE}_pool_size_ports",
                                 "Ports in each pool's range.", labels=["pool"])
        used = GaugeMetricFamily(f"{NAMESPACE}_pool_used_ports",
                                 "Registered ports inside each pool's range.", labels=["pool"])
        free = GaugeMetricFamily(
            f"{NAMESPACE}_pool_free_ports",
            "Ports auto-assign could still hand out from each pool (skip list and the kernel's"
            " ephemeral range excluded).", labels=["pool"])
        for usage in self.service.pools():
            size.add_metric([usage.pool.name], usage.pool.size)
            used.add_metric([usage.pool.name], usage.used)
            free.add_metric([usage.pool.name], usage.free)
        yield from (size, used, free)

        scan = self.scan_source() if self.scan_source is not None else None
        if scan is not None:
            by_state = GaugeMetricFamily(f"{NAMESPACE}_scan_ports",
                                         "Ports by live state in the last scan.", labels=["state"])
            for state, n in sorted(scan.counts.items()):
                by_state.add_metric([state], n)
            yield by_state
            yield GaugeMetricFamily(f"{NAMESPACE}_scan_last_timestamp_seconds",
                                    "Unix time of the last live scan.", value=scan.at)
            yield GaugeMetricFamily(f"{NAMESPACE}_scan_duration_seconds",
                                    "How long the last live scan took.", value=scan.seconds)


class AppMetrics:
    """One app's registry and its request counters."""

    def __init__(self, service: RegistryService, scan_source: ScanSource | None = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector

        self.registry: CollectorRegistry = CollectorRegistry()
        self.requests = Counter(
            f"{NAMESPACE}_http_requests", "HTTP requests, by method, route template and status.",
            ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram(
            f"{NAMESPACE}_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(RegistryCollector(service, scan_source))
        ProcessCollector(registry=self.registry)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in KNOWN_METHODS else "other"
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self, accept: str) -> tuple[bytes, str]:
        """The exposition in the format the scraper asked for (OpenMetrics or plain text)."""
        from prometheus_client.exposition import choose_encoder

        encode, content_type = choose_encoder(accept)
        data: bytes = encode(self.registry)
        return data, str(content_type)


class RequestMetrics:
    """ASGI middleware: counts and times every HTTP request under its route template."""

    def __init__(self, app: ASGIApp, metrics: AppMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            # The router records the matched route in the (shared) scope on its way down.
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - started)


def install(app: FastAPI, service: RegistryService, scan_source: ScanSource | None = None) -> None:
    """Give ``app`` its metrics when prometheus-client is importable; otherwise /metrics is 501.

    The scan figures come from ``scan_source``, by default a fresh live scan (at most every 5 s).
    """
    try:
        metrics: AppMetrics | None = AppMetrics(service, scan_source or LatestScan(service))
    except ImportError:
        metrics = None
    app.state.metrics = metrics
    if metrics is not None:
        app.add_middleware(RequestMetrics, metrics=metrics)


@router.get("/metrics")
def metrics_endpoint(request: Request) -> Response:
    metrics: AppMetrics | None = getattr(request.app.state, "metrics", None)
    if metrics is None:
        raise FeatureUnavailable(
            "metrics: prometheus-client is not installed on this server;"
            " install the metrics extra (pip install '.[metrics]' in the port-server clone)"
            " and restart port-server")
    data, content_type = metrics.render(request.headers.get("accept", ""))
    return Response(data, headers={"Content-Type": content_type, "Cache-Control": "no-store"})
