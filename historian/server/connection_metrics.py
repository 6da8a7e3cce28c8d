"""The managed connections on the server's own ``/metrics`` (``twinbench_connection_*``).

Each managed collector serves its own page on a port it picked, which a static
Prometheus config cannot name; the server's page therefore repeats what the
connection manager knows of each, labelled ``connection`` (the id) and ``protocol``:

- ``twinbench_connection_up``: 1 while the collector is ``running`` (0: starting,
  failed, stopped, draining);
- ``twinbench_connection_restarts_total``: restarts after a crash or a start timeout;
- ``twinbench_connection_points_published_total``: acked by JetStream, this life of the
  process (it restarts from 0 with the process, as a Prometheus counter may);
- ``twinbench_connection_rate_points_per_second``: published points per second over
  the last two scrapes (NaN until there are two);
- ``twinbench_connection_last_data_timestamp_seconds``: when data last came from the
  device (0 = not yet): the stale alert's input;
- ``twinbench_connection_spool_batches``: batches waiting in its spool.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["ConnectionCollector", "connection_registry"]


def _seconds(iso: str | None) -> float:
    if not iso:
        return 0.0
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class ConnectionCollector(Collector):
    """Reads ``[(description, health), ...]`` of every connection at scrape time."""

    def __init__(self, read: Callable[[], list[tuple[dict[str, Any], dict[str, Any]]]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        labels = ["connection", "protocol"]
        up = GaugeMetricFamily("twinbench_connection_up", "1 while running", labels=labels)
        restarts = CounterMetricFamily(
            "twinbench_connection_restarts", "Collector restarts", labels=labels
        )
        published = CounterMetricFamily(
            "twinbench_connection_points_published", "Points acked (this life)", labels=labels
        )
        rate = GaugeMetricFamily(
            "twinbench_connection_rate_points_per_second", "Published points/s", labels=labels
        )
        last = GaugeMetricFamily(
            "twinbench_connection_last_data_timestamp_seconds",
            "When data last came from the device (0 = not yet)",
            labels=labels,
        )
        spool = GaugeMetricFamily(
            "twinbench_connection_spool_batches", "Batches in the spool", labels=labels
        )
        for desc, h in self._read():
            values = [str(desc["id"]), str(desc["protocol"])]
            up.add_metric(values, 1.0 if h["state"] == "running" else 0.0)
            restarts.add_metric(values, float(h["restarts"]))
            published.add_metric(values, float(h["points_published"]))
            r = h["rate_points_per_s"]
            rate.add_metric(values, float(r) if r is not None else math.nan)
            last.add_metric(values, _seconds(h["last_data_time"]))
            spool.add_metric(values, float(h["spool_batches"]))
        yield from (up, restarts, published, rate, last, spool)


def connection_registry(
    read: Callable[[], list[tuple[dict[str, Any], dict[str, Any]]]],
) -> CollectorRegistry:
    reg = CollectorRegistry()
    reg.register(ConnectionCollector(read))
    return reg
