"""Every tunable of the storage engine in one dataclass, with defaults and why.

>>> Options().fsync
FsyncPolicy(mode='interval', interval_ms=5)
>>> FsyncPolicy.parse("always"), FsyncPolicy.parse("interval_ms=20").interval_ms
(FsyncPolicy(mode='always', interval_ms=0), 20)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from historian.model import NanPolicy, SeriesIndex

NS_PER_HOUR = 3_600 * 1_000_000_000
NS_PER_DAY = 24 * NS_PER_HOUR

ACCEPT_PAST_DEFAULT_NS = 3_653 * NS_PER_DAY
"""The server's accepted-time window reaches 10 years (3,653 days) into the past..."""
ACCEPT_FUTURE_DEFAULT_NS = NS_PER_DAY
"""...and 1 day into the future of the wall clock (clock skew, never "year 2100")."""


@dataclass(frozen=True, slots=True)
class FsyncPolicy:
    """When the WAL is fsynced, and so what an acknowledged write survives.

    - ``always``: ``write`` returns after the record is fsynced (concurrent
      writers share one fsync: group commit). Survives power loss.
    - ``interval_ms=N``: ``write`` returns after the record is written to the
      OS (it survives a crash of this process, e.g. SIGKILL); a background
      thread fsyncs at most N ms later, so a power cut loses at most ~N ms.
      ``Historian.durable_seq`` says which sequence is fsynced.
    - ``never``: written to the OS only; fsync happens at WAL rotation and close.
    """

    mode: Literal["always", "interval", "never"]
    interval_ms: int = 0

    @classmethod
    def always(cls) -> FsyncPolicy:
        return cls("always")

    @classmethod
    def interval(cls, ms: int) -> FsyncPolicy:
        if ms <= 0:
            raise ValueError(f"fsync interval must be > 0 ms, got {ms}")
        return cls("interval", ms)

    @classmethod
    def never(cls) -> FsyncPolicy:
        return cls("never")

    @classmethod
    def parse(cls, text: str) -> FsyncPolicy:
        """``always`` | ``never`` | ``interval_ms=N``."""
        text = text.strip()
        if text == "always":
            return cls.always()
        if text == "never":
            return cls.never()
        if text.startswith("interval_ms="):
            return cls.interval(int(text.split("=", 1)[1]))
        raise ValueError(f"unknown fsync policy {text!r}; use always, never or interval_ms=N")


@dataclass(frozen=True)
class Options:
    """Engine options; every field has a working default."""

    series_index: SeriesIndex | None = None
    """When given, writes naming a series id outside the catalogue are refused."""
    fsync: FsyncPolicy = field(default_factory=lambda: FsyncPolicy.interval(5))
    nan_policy: NanPolicy = NanPolicy.ALLOW
    late_window_ns: int | None = None
    """Points older than (newest timestamp written - this) are refused; None accepts any age."""
    future_window_ns: int | None = None
    """Points newer than (wall clock + this) are refused; None accepts any time.
    The historian server defaults to ``ACCEPT_FUTURE_DEFAULT_NS`` (1 day)."""
    past_window_ns: int | None = None
    """Points older than (wall clock - this) are refused; None accepts any age.
    The historian server defaults to ``ACCEPT_PAST_DEFAULT_NS`` (10 years). The
    library default stays open so that tests and imports of old data work."""
    min_ts: int = 0
    """Absolute lower bound of accepted timestamps (ns since epoch); 0 refuses pre-1970."""
    max_ts: int = 2**62
    """Absolute upper bound of accepted timestamps (keeps bucket arithmetic far from overflow)."""

    memtable_bytes: int = 32 * 1024 * 1024
    """Active memtable size that triggers a flush (22 bytes per point in memory)."""
    background_nice: int = 5
    """How much lower than the writers the flush and compaction threads run (Linux nice,
    per thread: :func:`historian.cpu_priority.lower_this_thread`). On a busy machine
    they then take the CPU the writers leave rather than make a write wait in the run
    queue; 0 runs them at the writers' priority."""
    compaction_idle: bool = True
    """Run the compaction thread under ``SCHED_IDLE`` (Linux): it uses only CPU nobody
    else wants, also across processes, which a nice value does not
    (:func:`historian.cpu_priority.idle_this_thread`). Compaction is deferrable work;
    the flush, which frees memtable budget, keeps ``background_nice``."""
    recovery_memtable_bytes: int | None = None
    """Memtable size while replaying the WAL at open (None: ``memtable_bytes``). Larger means
    longer chunks per flush, so faster recovery (flush cost is mostly per chunk), more memory."""
    max_immutable_memtables: int = 4
    """Full memtables that may wait for flush (a queue, LevelDB's ``imm_``): a writer that
    fills the active memtable while earlier ones are still flushing switches to a new one
    at once; it waits (backpressure) only when this many are queued or their bytes reach
    ``immutable_budget_bytes``. Reads include every queued memtable."""
    immutable_budget_bytes: int | None = None
    """Bytes of queued immutable memtables beyond which writers get backpressure (None:
    2 x ``memtable_bytes``). Memory bound: active + queued <= 3 x ``memtable_bytes`` + one
    batch, 96 MiB at the defaults, reached only while flushes fall behind the writers."""
    backpressure: Literal["wait", "error"] = "wait"
    """``wait``: block up to ``write_timeout_s``, then OverloadedError; ``error``: raise at once."""
    write_timeout_s: float = 30.0

    wal_segment_bytes: int = 64 * 1024 * 1024
    """WAL rotates to a new file past this size."""

    bucket_ns: int = NS_PER_HOUR
    """Segment files never span a bucket boundary, so retention drops whole files."""
    chunk_max_points: int = 4096
    """Longest chunk in a segment (per series); reads decode whole chunks."""
    l0_compaction_trigger: int = 4
    """L0 files that trigger an L0 -> L1 compaction."""
    l2_settle_buckets: int = 1
    """A bucket moves L1 -> L2 once it ends this many buckets before the newest data."""
    retention_ns: int | None = None
    """Whole segment files whose bucket ends before (wall clock - this) are deleted. The wall
    clock, never the newest data: one far-future point must not expire everything."""
    codec: str | None = None
    """Codec for settled (L2) files; None lets the codec package pick the smallest per chunk."""
    flush_codec: str | None = "raw"
    """Codec for L0 files. A flush writes ~one short chunk per series, so the per-chunk cost
    dominates: "raw" (delta timestamps, raw values) is the cheapest; L0 files are transient."""
    l1_codec: str | None = "pco"
    """Codec for L1 files: merged runs are longer, pco compresses them fast and well."""
    background: bool = True
    """Run flush and compaction on background threads (False: inline, for tests)."""
    encryption_key_file: str | None = None
    """Key file (:mod:`historian.crypto.keyfile`): encrypt every WAL record and segment block
    with AES-256-GCM. None (the default) writes the plain formats; a store is either wholly
    encrypted or not, and opening it with the wrong key or none is refused."""

    @property
    def immutable_budget(self) -> int:
        """``immutable_budget_bytes`` resolved (bytes)."""
        b = self.immutable_budget_bytes
        return 2 * self.memtable_bytes if b is None else b

    def accepted_window(self, now_ns: int) -> tuple[int, int]:
        """Inclusive ``(lo, hi)`` bounds of accepted timestamps at wall-clock time ``now_ns``.

        >>> Options(past_window_ns=10, future_window_ns=5).accepted_window(100)
        (90, 105)
        """
        lo, hi = self.min_ts, self.max_ts
        if self.past_window_ns is not None:
            lo = max(lo, now_ns - self.past_window_ns)
        if self.future_window_ns is not None:
            hi = min(hi, now_ns + self.future_window_ns)
        return lo, hi

    def __post_init__(self) -> None:
        if self.bucket_ns <= 0:
            raise ValueError("bucket_ns must be > 0")
        if self.memtable_bytes < 1024:
            raise ValueError("memtable_bytes must be at least 1 KiB")
        if not 0 <= self.background_nice <= 19:
            raise ValueError(f"background_nice must be 0..19, got {self.background_nice}")
        if self.chunk_max_points < 1:
            raise ValueError("chunk_max_points must be >= 1")
        if self.max_immutable_memtables < 1:
            raise ValueError("max_immutable_memtables must be >= 1")
        if self.l0_compaction_trigger < 1:
            raise ValueError("l0_compaction_trigger must be >= 1")
