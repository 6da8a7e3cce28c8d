"""A collector's Prometheus page: what it read, published and spooled, and whether data flows.

``python -m harness.plant.collector_process ... --metrics 127.0.0.1:9464`` serves it
(port 0 picks a free port; the bound address is printed as a JSON line
``{"metrics": "http://HOST:PORT/metrics"}``). Every figure is read from the live
objects at scrape time (:class:`CollectorMetrics` is a custom collector), so the
poll and notification paths never touch the registry. Labels: ``source`` (the
collector's source id) and ``protocol`` (``modbus`` / ``opcua``).

Counters (``_total``, since the process started):

- ``twinbench_collector_points_read_total``: readings taken from the device
  (Modbus: tags per poll; OPC UA: data change notifications);
- ``..._points_admitted_total``: readings that passed the exception/deadband filter;
- ``..._points_published_total`` / ``..._batches_published_total``: acked by JetStream;
- ``..._batches_spooled_total`` / ``..._batches_drained_total``: to and from the disk spool;
- ``..._points_refused_total``: neither published nor spooled (spool full): **lost**;
- ``..._publish_errors_total``: publishes that failed after their retries (the batch
  went to the spool), ``..._spool_write_errors_total``, ``..._source_errors_total``
  (Modbus block read errors, OPC UA undecodable notifications),
  ``..._source_reconnects_total``.

Gauges: ``..._spool_bytes``, ``..._spool_files``, ``..._spool_max_bytes``,
``..._spool_quarantined_files``, ``..._spool_full`` (1 while the spool refuses
batches), ``..._source_connected`` and ``..._bus_connected`` (1/0), and
``..._last_data_timestamp_seconds``: when data last came from the device (0 = not
yet). Connection state alone can lie (an OPC UA client may report CONNECTED and
receive nothing after a link reset), so the stale alert watches the last data time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from historian.collect.forwarder import BatchForwarder
from historian.collect.modbus import ModbusPoller
from historian.collect.opcua import OpcUaCollector
from historian.collect.spool import DiskSpool

__all__ = ["CollectorMetrics", "parse_listen", "serve_metrics"]

Source = ModbusPoller | OpcUaCollector


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port); ValueError says what is expected."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65_535:
        raise ValueError(
            f"--metrics {text!r}: expected HOST:PORT such as 127.0.0.1:9464 (port 0 = any free)"
        )
    return host, int(port)


class CollectorMetrics(Collector):
    """Reads the source, the forwarder and the spool of one collector at every scrape."""

    def __init__(
        self,
        source_id: str,
        source: Source,
        forwarder: BatchForwarder,
        spool: DiskSpool,
        bus_connected: Callable[[], bool],
    ) -> None:
        self.source_id = source_id
        self.source = source
        self.forwarder = forwarder
        self.spool = spool
        self.bus_connected = bus_connected
        self.protocol = "modbus" if isinstance(source, ModbusPoller) else "opcua"

    def _source_figures(self) -> tuple[int, int, int, int]:
        """(points read, points admitted, source errors, reconnects)."""
        s = self.source
        if isinstance(s, ModbusPoller):
            m = s.metrics
            return m.readings, m.sent, m.block_errors, m.reconnects
        u = s.metrics
        return u.notifications, u.sent, u.decode_errors, u.reconnects

    def collect(self) -> Iterator[Metric]:
        labels = ["source", "protocol"]
        values = [self.source_id, self.protocol]
        read, admitted, errors, reconnects = self._source_figures()
        f = self.forwarder.metrics
        counters = {
            "points_read": ("Readings taken from the device", read),
            "points_admitted": ("Readings that passed the exception/deadband filter", admitted),
            "points_published": ("Points acked by JetStream", f.points_acked),
            "batches_published": ("Batches acked by JetStream", f.batches_acked),
            "batches_spooled": ("Batches written to the disk spool", f.batches_spooled),
            "batches_drained": ("Spooled batches re-published and deleted", f.batches_drained),
            "points_refused": (
                "Points neither published nor spooled (spool full or failed): lost",
                f.points_refused,
            ),
            "publish_errors": (
                "Publishes that failed after their retries (the batch went to the spool)",
                len(f.publish_errors),
            ),
            "spool_write_errors": ("Spool writes that failed", f.spool_write_errors),
            "source_errors": (
                "Modbus block read errors / OPC UA undecodable notifications",
                errors,
            ),
            "source_reconnects": ("Connections to the device re-opened", reconnects),
        }
        for name, (doc, value) in counters.items():
            c = CounterMetricFamily(f"twinbench_collector_{name}", doc, labels=labels)
            c.add_metric(values, float(value))
            yield c
        sp = self.spool
        last_ns = self.source.metrics.last_data_ns
        gauges: dict[str, tuple[str, float]] = {
            "spool_bytes": ("Bytes in the disk spool", sp.size_bytes),
            "spool_files": ("Batches (files) in the disk spool", len(sp)),
            "spool_max_bytes": ("The spool's size limit", sp.max_bytes),
            "spool_quarantined_files": ("Spool files set aside as unusable", sp.quarantined),
            "spool_full": ("1 while the spool refuses batches (full)", int(sp.alarm)),
            "source_connected": ("1 while connected to the device", int(self.source.connected)),
            "bus_connected": ("1 while connected to NATS", int(self.bus_connected())),
            "last_data_timestamp_seconds": (
                "When data last came from the device (seconds since 1970; 0 = not yet)",
                last_ns / 1e9,
            ),
        }
        for name, (text, level) in gauges.items():
            g = GaugeMetricFamily(f"twinbench_collector_{name}", text, labels=labels)
            g.add_metric(values, level)
            yield g


def serve_metrics(collector: CollectorMetrics, host: str, port: int) -> WSGIServer:
    """Serve ``/metrics`` on a daemon thread; the returned server's ``server_port`` is bound."""
    registry = CollectorRegistry()
    registry.register(collector)
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
