"""Prometheus ``/metrics`` and a ``/healthz`` JSON page of the ingest (``--metrics-port``).

Gauges are refreshed from each worker's :class:`~historian.ingest.worker.IngestMetrics`
and :class:`~historian.ingest.health.WriteHealth` once a second by
:func:`export_loop`, so the hot path never touches the registry. The engine's
``recovery_report`` (what the last open replayed, truncated or dropped) is set
once at start: numeric items as ``twinbench_historian_recovery{item=...}``, the
rest as labels of ``twinbench_historian_recovery_report_info``.

``/healthz`` answers 200 with ``{"status": "ok", ...}`` while every partition
writes, 503 while any backs off after a failed store write (``backing-off``,
e.g. disk full) or has given up (``failed``, e.g. a poisoned WAL).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, Gauge, Info, make_wsgi_app
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import Collector

from historian.ingest.admission import REASONS
from historian.ingest.health import worst
from historian.ingest.worker import IngestWorker
from historian.lsm.latency import BUCKET_BOUNDS_S, StageLatency

_STATES = ("ok", "backing-off", "failed")
_HANDSHAKE_TIMEOUT_S = 10.0


class IngestExporter:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        labels = ["partition"]
        self.lag = Gauge(
            "twinbench_ingest_consumer_lag_messages",
            "Messages the consumer has not applied yet (pending + awaiting ack)",
            labels, registry=r,
        )  # fmt: skip
        self.points = Gauge(
            "twinbench_ingest_points_total", "Points applied to the engine", labels, registry=r
        )
        self.batches = Gauge(
            "twinbench_ingest_batches_total", "Batches applied to the engine", labels, registry=r
        )
        self.dead = Gauge(
            "twinbench_ingest_dead_lettered_total",
            "Whole messages sent to the dead-letter stream (undecodable or invalid)",
            labels, registry=r,
        )  # fmt: skip
        self.rejected = Gauge(
            "twinbench_ingest_rejected_points_total",
            "Points rejected one by one (out of the accepted-time window, unknown series) and "
            "sent to the dead-letter stream; the rest of their message was stored",
            [*labels, "reason"], registry=r,
        )  # fmt: skip
        self.refused = Gauge(
            "twinbench_ingest_refused_batches_total",
            "Batches dead-lettered whole by the source-owners check: reason wrong-source (not "
            "the partition's source) or wrong-series (a series its source does not own)",
            [*labels, "reason"], registry=r,
        )  # fmt: skip
        self.naks = Gauge(
            "twinbench_ingest_naks_total",
            "Messages nak'd for redelivery because the store could not take them",
            labels, registry=r,
        )  # fmt: skip
        self.write_failures = Gauge(
            "twinbench_ingest_store_write_failures_total",
            "Store writes that failed for a reason other than the batch (disk full, ...)",
            labels, registry=r,
        )  # fmt: skip
        self.write_state = Gauge(
            "twinbench_ingest_write_state",
            "1 for the partition's current write state (ok, backing-off, failed)",
            [*labels, "state"], registry=r,
        )  # fmt: skip
        self.backoff = Gauge(
            "twinbench_ingest_backoff_seconds_total",
            "Seconds spent not fetching because store writes were failing",
            labels, registry=r,
        )  # fmt: skip
        self.resubscribes = Gauge(
            "twinbench_ingest_resubscribes_total", "Pull subscriptions re-created", labels,
            registry=r,
        )  # fmt: skip
        self.lag_seconds = Gauge(
            "twinbench_ingest_consumer_lag_seconds",
            "Age (stream time) of the partition's oldest message not yet acked; 0 = caught up",
            labels, registry=r,
        )  # fmt: skip
        self.redelivered = Gauge(
            "twinbench_ingest_consumer_redelivered_messages",
            "Messages delivered more than once and not yet acked (num_redelivered)",
            labels, registry=r,
        )  # fmt: skip
        self.consumer_read = Gauge(
            "twinbench_ingest_consumer_read_timestamp_seconds",
            "When the consumer's lag was last read from JetStream (stale: bus unreachable)",
            labels, registry=r,
        )  # fmt: skip
        self.stream_bytes = Gauge(
            "twinbench_jetstream_stream_bytes", "Bytes stored in the stream", ["stream"],
            registry=r,
        )  # fmt: skip
        self.stream_messages = Gauge(
            "twinbench_jetstream_stream_messages", "Messages stored in the stream", ["stream"],
            registry=r,
        )  # fmt: skip
        self.stream_max_bytes = Gauge(
            "twinbench_jetstream_stream_max_bytes",
            "The stream's max_bytes limit (publishes beyond it are refused); 0 = unlimited",
            ["stream"], registry=r,
        )  # fmt: skip
        self.last_seq = Gauge(
            "twinbench_ingest_last_stream_seq", "Highest stream sequence applied", labels,
            registry=r,
        )  # fmt: skip
        self.recovery = Gauge(
            "twinbench_historian_recovery",
            "What the engine's recovery did at open (recovery_report), numeric items",
            ["item"], registry=r,
        )  # fmt: skip
        self.recovery_info = Info(
            "twinbench_historian_recovery_report", "recovery_report items that are not numbers",
            registry=r,
        )  # fmt: skip
        self._workers: list[IngestWorker] = []
        self._recovery: dict[str, Any] = {}
        self._server: ThreadingWSGIServer | None = None
        self._engine_latency: StageLatency | None = None
        r.register(_StageCollector(self))

    def set_engine_latency(self, latency: StageLatency) -> None:
        """Export the store's per-stage write latency (``Historian.write_latency``)."""
        self._engine_latency = latency

    def set_recovery(self, report: dict[str, Any]) -> None:
        self._recovery = dict(report)
        text: dict[str, str] = {}
        for key, value in report.items():
            if isinstance(value, int | float):  # bool is an int too
                self.recovery.labels(key).set(float(value))
            else:
                text[key] = "" if value is None else str(value)
        self.recovery_info.info(text)

    def update(self, workers: Iterable[IngestWorker]) -> None:
        self._workers = list(workers)
        for w in self._workers:
            p = str(w.partition)
            m, h = w.metrics, w.health
            self.lag.labels(p).set(m.lag_messages)
            self.points.labels(p).set(m.points)
            self.batches.labels(p).set(m.batches)
            self.dead.labels(p).set(m.dead_lettered)
            for reason in REASONS:
                self.rejected.labels(p, reason).set(m.rejected_points.get(reason, 0))
            self.refused.labels(p, "wrong-source").set(m.wrong_source)
            self.refused.labels(p, "wrong-series").set(m.wrong_series)
            self.naks.labels(p).set(m.naks)
            self.write_failures.labels(p).set(h.transient_failures)
            for s in _STATES:
                self.write_state.labels(p, s).set(1.0 if h.state == s else 0.0)
            self.backoff.labels(p).set(h.backoff_seconds)
            self.resubscribes.labels(p).set(m.resubscribes)
            self.last_seq.labels(p).set(m.last_stream_seq)
            if m.consumer is not None:
                self.lag_seconds.labels(p).set(m.consumer.lag_seconds)
                self.redelivered.labels(p).set(m.consumer.redelivered)
                self.consumer_read.labels(p).set(m.consumer.read_at_s)
            if m.stream is not None:
                st = m.stream
                self.stream_bytes.labels(st.stream).set(st.bytes)
                self.stream_messages.labels(st.stream).set(st.messages)
                self.stream_max_bytes.labels(st.stream).set(st.max_bytes)

    def health(self) -> dict[str, Any]:
        """Read live from the workers (not from the last refresh): a failure shows at once."""
        parts = {str(w.partition): w.health.as_dict() for w in self._workers}
        status = worst([v["state"] for v in parts.values()])
        return {"status": status, "partitions": parts, "recovery": self._recovery}

    def serve(self, port: int, host: str = "127.0.0.1", tls: tuple[str, str] | None = None) -> int:
        """Serve /metrics and /healthz on a thread; return the bound port (port 0 = any).

        ``tls`` = (certificate, key) PEM files: HTTPS, so a secured deployment
        (``--tls-cert``) has no plain-HTTP port left; the TLS handshake runs in each
        request's own thread, so one stalled client cannot block the scrapes."""
        app = _routes(make_wsgi_app(self.registry), self.health)
        self._server = make_server(host, port, app, ThreadingWSGIServer, handler_class=_Quiet)
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(*tls)
            self._server.socket = ctx.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True).start()
        return int(self._server.server_port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _histogram(
    name: str, doc: str, labels: list[str], parts: list[tuple[list[str], StageLatency]]
) -> HistogramMetricFamily:
    fam = HistogramMetricFamily(name, doc, labels=[*labels, "stage"])
    for values, lat in parts:
        for stage in lat.stages:
            counts = lat.counts(stage)
            cum, buckets = 0, []
            for bound, c in zip(BUCKET_BOUNDS_S, counts, strict=False):
                cum += c
                buckets.append((f"{bound:.6g}", cum))
            buckets.append(("+Inf", cum + counts[-1]))
            fam.add_metric([*values, stage], buckets, lat.total(stage)[1])
    return fam


class _StageCollector(Collector):
    """Reads the stage histograms at scrape time: recording never touches the registry."""

    def __init__(self, exporter: IngestExporter) -> None:
        self._exporter = exporter

    def collect(self) -> Iterable[Metric]:
        e = self._exporter
        yield _histogram(
            "twinbench_ingest_stage_seconds",
            "Ingest time per stage (decode, admission per message; write, ack, round per "
            "fetch round; publish_to_ack per message; loop_lag of the event loop)",
            ["partition"],
            [([str(w.partition)], w.latency) for w in e._workers],
        )
        if e._engine_latency is not None:
            yield _histogram(
                "twinbench_historian_write_stage_seconds",
                "Historian.write time per stage (validate, write lock, wait for room, WAL "
                "append, memtable add, memtable switch, fsync wait, total, WAL rotation)",
                [],
                [([], e._engine_latency)],
            )


class _Quiet(WSGIRequestHandler):
    _refused = False

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            # the handshake here, in the request's thread, bounded: a client that
            # speaks plain HTTP or stalls is dropped without a traceback on stderr
            self.request.settimeout(_HANDSHAKE_TIMEOUT_S)
            try:
                self.request.do_handshake()
            except (OSError, ssl.SSLError):
                self._refused = True
        super().setup()

    def handle(self) -> None:
        if not self._refused:
            super().handle()

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would flood the log."""


_Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _routes(metrics_app: _Wsgi, health: Callable[[], dict[str, Any]]) -> _Wsgi:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            body = health()
            status = "200 OK" if body["status"] == "ok" else "503 Service Unavailable"
            data = json.dumps(body).encode()
            start_response(status, [("Content-Type", "application/json")])
            return [data]
        return metrics_app(environ, start_response)

    return app


async def export_loop(
    exporter: IngestExporter, workers: list[IngestWorker], stop: asyncio.Event
) -> None:
    while not stop.is_set():
        exporter.update(workers)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
    exporter.update(workers)
