"""Tunables of the bus layer: stream limits, subjects, publish windows, consumers.

Kept beside the bus code and re-exported from :mod:`historian.options` so every
tunable of the historian is reachable from one place.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BusOptions:
    """JetStream stream, subject and flow-control settings (defaults suit one machine)."""

    stream: str = "TWINBENCH"
    """Name of the one JetStream stream that holds every batch."""
    subject_prefix: str = "tb.ingest"
    """Batch subjects are ``<prefix>.p<partition>``."""
    partitions: int = 1
    """Number of batch subjects; one historian consumer per partition."""
    replicas: int = 1
    """1 for a single node; 3 on a 3-node cluster (R3)."""
    max_bytes: int = 8 * 1024**3
    """Stream size limit; JetStream rejects publishes beyond it (discard=new)."""
    max_age_s: float = 7 * 24 * 3600.0
    """Messages older than this are removed by the server."""
    duplicate_window_s: float = 120.0
    """Window in which a repeated ``Nats-Msg-Id`` is dropped; must cover a spool drain retry."""
    max_msg_bytes: int = 2 * 1024**2
    max_points_per_message: int = 50_000
    publish_window: int = 64
    """Publishes in flight without an ack; the publisher blocks its caller beyond it."""
    ack_timeout_s: float = 5.0
    """Deadline for one publish ack (nats-py never times out an async publish by itself)."""
    publish_attempts: int = 6
    retry_backoff_s: float = 0.05
    retry_backoff_max_s: float = 2.0
    election_window_s: float = 20.0
    """How long one publish keeps retrying "no responders" beyond ``publish_attempts``: on a
    cluster the stream may be electing a leader, and a follower waits 4-9 s (nats-server's
    fixed Raft election timeout) before it even campaigns for the one that died."""
    consumer_prefix: str = "historian"
    fetch_batch: int = 64
    fetch_timeout_s: float = 0.5
    max_ack_pending: int = 4096
    ack_wait_s: float = 5.0
    """Redelivery delay for a batch that was fetched but not acked (historian crashed, or
    the fetch answer was lost in a partition). Short, because a redelivery is harmless
    (writes are idempotent) while every second here is a second of latency after a fault;
    it must stay above the slowest engine write (backpressure waits included)."""
    dead_letter_subject: str = "tb.deadletter"
    uns_prefix: str = ""
    """Optional prefix before the ISA-95 path on live-value subjects ("" = the bare path)."""
    events_stream: str = "ALARMS"
    """The stream of plant events (alarms, trips, operator actions; historian.events)."""
    events_subject_prefix: str = "tb.events"
    """Event subjects are ``<prefix>.<source id>`` (one per publishing plant server)."""
    events_consumer: str = "historian-events"
    """The historian's durable consumer of the events stream."""

    def batch_subject(self, partition: int) -> str:
        if not 0 <= partition < self.partitions:
            raise ValueError(f"partition {partition} outside 0..{self.partitions - 1}")
        return f"{self.subject_prefix}.p{partition}"

    def all_batch_subjects(self) -> str:
        return f"{self.subject_prefix}.>"

    def consumer_name(self, partition: int) -> str:
        return f"{self.consumer_prefix}-p{partition}"

    def events_subject(self, source_id: str) -> str:
        return f"{self.events_subject_prefix}.{source_id}"
