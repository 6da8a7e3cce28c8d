"""``/metrics``: Prometheus text of the HTTP API, the store and the ingest.

- ``twinbench_http_requests_total{endpoint, method, status}`` and
  ``twinbench_http_request_seconds{endpoint}`` (a histogram), labelled by the
  route template (``/api/v1/tags/{name}/recorded``), never by the raw path, so a
  scan over many tags does not explode the label set;
- ``twinbench_store_*``: points, bytes on disk, bytes per point, memtable and WAL
  size, files per level, WAL sequence numbers (``Historian.stats()`` read at
  scrape time);
- the ingest's gauges (consumer lag, points, dead letters, write state per
  partition) from :class:`historian.ingest.metrics.IngestExporter`, refreshed
  from the live workers at scrape time, when the server runs ingest workers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["PROMETHEUS_TEXT", "ApiMetrics"]

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.15,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class _StoreCollector(Collector):
    """Reads ``stats()`` of the open store at every scrape."""

    def __init__(self, stats: Callable[[], Any]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            s = self._stats()
        except Exception:  # a closed or failing store: no store metrics, not a failed scrape
            return
        plain = {
            "points": ("Points stored (segments + memtables)", s.points),
            "segment_points": ("Points in segment files", s.segment_points),
            "bytes_on_disk": ("Bytes of segment files", s.bytes_on_disk),
            "bytes_per_point": ("Segment bytes per segment point", s.bytes_per_point),
            "wal_bytes": ("Bytes of WAL segments", s.wal_bytes),
            "memtable_bytes": ("Bytes held in memtables", s.memtable_bytes),
            "memtable_points": ("Points held in memtables", s.memtable_points),
            "last_seq": ("Last WAL sequence number written", s.last_seq),
            "durable_seq": ("Last WAL sequence number fsynced", s.durable_seq),
            "flushed_seq": ("Last WAL sequence number flushed to a segment", s.flushed_seq),
        }
        for key, (doc, value) in plain.items():
            yield GaugeMetricFamily(f"twinbench_store_{key}", doc, value=float(value))
        files = GaugeMetricFamily(
            "twinbench_store_level_files", "Segment files per LSM level", labels=["level"]
        )
        for i, lv in enumerate(s.levels):
            files.add_metric([str(i)], float(lv.files))
        yield files


class ApiMetrics:
    """Request counters and latency histograms; :meth:`render` is the ``/metrics`` body."""

    def __init__(
        self,
        store_stats: Callable[[], Any] | None = None,
        extra_registries: Callable[[], Iterable[CollectorRegistry]] | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "twinbench_http_requests",
            "HTTP requests answered, by route template, method and status code",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "twinbench_http_request_seconds",
            "Time from request start to the last response byte, by route template",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        if store_stats is not None:
            self.registry.register(_StoreCollector(store_stats))
        self._extra = extra_registries

    def observe(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, method, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)

    def render(self) -> bytes:
        body = generate_latest(self.registry)
        if self._extra is not None:
            for reg in self._extra():
                body += generate_latest(reg)
        return body


class MetricsMiddleware:
    """ASGI middleware timing every HTTP request by its route template."""

    def __init__(self, app: Any, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500

        async def send_wrapper(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            self.metrics.observe(endpoint, scope["method"], status, time.perf_counter() - t0)
