"""Prometheus metrics. With several web workers set PROMETHEUS_MULTIPROC_DIR (the launcher
does) so a scrape of any worker reports the sum over all of them."""

from __future__ import annotations

import os
import re

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from backend_services.core.db import pool_stats

HTTP_REQUESTS = Counter(
    "replyx_http_requests_total", "HTTP requests served", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "replyx_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WS_CONNECTIONS = Gauge(
    "replyx_websocket_connections", "Open websocket connections", multiprocess_mode="livesum"
)
DB_POOL = Gauge(
    "replyx_db_pool_connections",
    "Database pool connections by state",
    ["state"],
    multiprocess_mode="livesum",
)

ANSWERS_IN_FLIGHT = Gauge(
    "replyx_ai_answers_in_flight",
    "AI answers being written by web workers (admission control counts these)",
    multiprocess_mode="livesum",
)
ANSWERS_REFUSED_BUSY = Counter(
    "replyx_ai_answers_refused_busy_total",
    "Visitor messages refused, not stored, because the worker was at its answer limit",
)

_ID = re.compile(r"/\d+(?=/|$)")


def route_label(path: str) -> str:
    """Bounded label values: API paths with ids folded, everything else by kind."""
    if path.startswith("/api/"):
        return _ID.sub("/:id", path)[:80]
    if path.startswith("/_event"):
        return "/_event"
    if path == "/metrics":
        return path
    return "frontend"


def render() -> tuple[bytes, str]:
    stats = pool_stats()
    DB_POOL.labels("size").set(stats["size"])
    DB_POOL.labels("checked_out").set(stats["checked_out"])
    DB_POOL.labels("overflow").set(stats["overflow"])
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
