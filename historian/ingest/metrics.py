"""Prometheus metrics of the ingest process (``--metrics-port``): lag, throughput, errors.

Gauges are refreshed from each worker's :class:`~historian.ingest.worker.IngestMetrics`
once a second by :func:`export_loop`, so the hot path never touches the registry.
"""

from __future__ import annotations

import asyncio
import contextlib

from prometheus_client import CollectorRegistry, Gauge, start_http_server

from historian.ingest.worker import IngestWorker


class IngestExporter:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        labels = ["partition"]
        self.lag = Gauge(
            "twinbench_ingest_consumer_lag_messages",
            "Messages the consumer has not applied yet (pending + awaiting ack)",
            labels, registry=self.registry,
        )  # fmt: skip
        self.points = Gauge(
            "twinbench_ingest_points_total", "Points applied to the engine", labels,
            registry=self.registry,
        )  # fmt: skip
        self.batches = Gauge(
            "twinbench_ingest_batches_total", "Batches applied to the engine", labels,
            registry=self.registry,
        )  # fmt: skip
        self.dead = Gauge(
            "twinbench_ingest_dead_lettered_total", "Messages sent to the dead-letter stream",
            labels, registry=self.registry,
        )  # fmt: skip
        self.resubscribes = Gauge(
            "twinbench_ingest_resubscribes_total", "Pull subscriptions re-created", labels,
            registry=self.registry,
        )  # fmt: skip
        self.last_seq = Gauge(
            "twinbench_ingest_last_stream_seq", "Highest stream sequence applied", labels,
            registry=self.registry,
        )  # fmt: skip

    def update(self, workers: list[IngestWorker]) -> None:
        for w in workers:
            p = str(w.partition)
            m = w.metrics
            self.lag.labels(p).set(m.lag_messages)
            self.points.labels(p).set(m.points)
            self.batches.labels(p).set(m.batches)
            self.dead.labels(p).set(m.dead_lettered)
            self.resubscribes.labels(p).set(m.resubscribes)
            self.last_seq.labels(p).set(m.last_stream_seq)

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        start_http_server(port, addr=host, registry=self.registry)


async def export_loop(
    exporter: IngestExporter, workers: list[IngestWorker], stop: asyncio.Event
) -> None:
    while not stop.is_set():
        exporter.update(workers)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
    exporter.update(workers)
