"""The export's heavy half in a child process, so a serving historian keeps its CPU for ingest.

Reading a bucket's segment files, merging them, encoding Parquet (raw and three
rollup levels), the PUTs and the read-back verify are CPU-bound Python and C
that, inside the server, held the GIL against the ingest for seconds per round
(measured in the stress run: p99 publish->queryable at nominal 27 -> 63 ms).
:class:`ExportWorker` runs them in one long-lived child process at a lower
priority (``os.nice``, and ``SCHED_IDLE`` like compaction: ``idle``, measured by
``benchmarks/bench_tier_ingest.py``); the server keeps only what must be atomic with its
store: choosing the files with compaction paused, the catalogue write and the
manifest edit that drops the files (``historian.tier.exporter.export_day``).

The child only reads: segment files are immutable and stay on disk while the
parent keeps compaction off their buckets (``Historian.files_held``); the
objects it writes are nobody's until the parent lists them. So a child that
dies at any step leaves what a crash before the catalogue write leaves
(uncatalogued objects, swept by ``recover``): the parent's round fails, logs it
and a fresh child is started for the next round.
A child never outlives its parent (``PR_SET_PDEATHSIG``, and it checks its
parent before each job): an orphan still uploading could overwrite a part a
restarted server reallocated.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import multiprocessing
import os
import signal
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from historian.catalogue import TagCatalogue
from historian.cpu_priority import idle_this_thread
from historian.errors import HistorianError
from historian.fs import FileSystem
from historian.lsm import filenames
from historian.sstable import SegmentReader

from .coldcat import ColdPart
from .compact import merge_parts
from .config import TierConfig
from .exporter import encode_parts, merge_batches, upload_verified
from .objstore import ObjectStore, S3Store

__all__ = ["ExportWorker", "ExportWorkerError"]

DEFAULT_NICE = 10
"""How much lower the child's priority is than the server's (ingest first)."""
PR_SET_PDEATHSIG = 1


class ExportWorkerError(HistorianError):
    """The export child died or could not start; nothing left the hot tier."""


@dataclass(frozen=True)
class _Job:
    root: str
    key_file: str | None
    files: tuple[int, ...]
    seq: int
    kill_at: str | None


_store: ObjectStore | None = None
_parent = 0


def _init(parent: int, config: TierConfig, nice: int, idle: bool) -> None:
    global _store, _parent
    _parent = parent
    with contextlib.suppress(OSError, AttributeError):  # Linux: dies with the parent
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the prctl
        os._exit(1)
    os.nice(nice)
    if idle:  # a nice value does not hold across autogroups; SCHED_IDLE does (cpu_priority)
        idle_this_thread()  # the jobs run on this thread; threads it starts inherit it
    _store = S3Store(
        config.endpoint, config.bucket, config.access_key, config.secret_key, config.region
    )


class _KillAt(FileSystem):
    """Tests: the child SIGKILLs itself at one crash point, like a killed process."""

    def __init__(self, point: str | None) -> None:
        super().__init__()
        self.point = point

    def crash_point(self, name: str) -> None:
        if name == self.point:
            os.kill(os.getpid(), signal.SIGKILL)


def _export(job: _Job, config: TierConfig) -> list[ColdPart]:
    if os.getppid() != _parent:
        os._exit(1)
    assert _store is not None
    fs = _KillAt(job.kill_at)
    cipher = None
    if job.key_file is not None:
        from historian.crypto.keyfile import load_cipher

        cipher = load_cipher(job.key_file)
    batches = [
        SegmentReader(fs, os.path.join(job.root, filenames.segment_name(n)), cipher).read_all()
        for n in job.files
    ]
    cat = TagCatalogue.load(job.root, fs)

    def name(series: int) -> str | None:
        info = cat.by_id(series) if cat is not None else None
        return info.name if info is not None else None

    pending = encode_parts(merge_batches(batches), name, config, job.seq, job.files)
    return upload_verified(_store, pending, fs.crash_point)


def _merge(config: TierConfig, parts: list[ColdPart], seq: int) -> ColdPart:
    if os.getppid() != _parent:
        os._exit(1)
    assert _store is not None
    return merge_parts(_store, config, parts, seq)


class ExportWorker:
    """One child process doing exports' and small-part merges' heavy half (module docstring)."""

    def __init__(
        self,
        root: str,
        config: TierConfig,
        key_file: str | None = None,
        *,
        nice: int = DEFAULT_NICE,
        idle: bool = False,
    ) -> None:
        self.root = root
        self.config = config
        self.key_file = key_file
        self.nice = nice
        self.idle = idle
        """Run the child under SCHED_IDLE, like compaction. It then runs only on an
        otherwise idle CPU: on a saturated machine the export waits (export lag grows,
        nothing is lost); ``serve --tier`` does not use it yet (seen: the child at 2 %
        CPU behind other nice-19 work, a test's export minutes instead of seconds)."""
        self.kill_at: str | None = None
        """Tests: the child SIGKILLs itself at this crash point of its next export."""
        self.restarts = 0
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def _executor(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                1,
                mp_context=multiprocessing.get_context("spawn"),  # no fork of a threaded server
                initializer=_init,
                initargs=(os.getpid(), self.config, self.nice, self.idle),
            )
        return self._pool

    def _run(self, what: str, fn: object, *args: object) -> object:
        try:
            return self._executor().submit(fn, *args).result()  # type: ignore[arg-type]
        except BrokenProcessPool as exc:
            self.close()
            self.restarts += 1
            raise ExportWorkerError(
                f"the export child died during {what}; nothing left the hot tier "
                "(its uncatalogued objects are swept next round)"
            ) from exc

    def export(self, files: tuple[int, ...], seq: int) -> list[ColdPart]:
        """Read, merge, encode, upload and verify ``files`` as parts ``seq``, ``seq + 1``..."""
        job = _Job(self.root, self.key_file, files, seq, self.kill_at)
        parts = self._run("an export", _export, job, self.config)
        assert isinstance(parts, list)
        return parts

    def merge(self, parts: list[ColdPart], seq: int) -> ColdPart:
        """``historian.tier.compact.merge_parts`` in the child."""
        part = self._run("a small-part merge", _merge, self.config, parts, seq)
        assert isinstance(part, ColdPart)
        return part

    def start(self) -> None:
        """Start the child now (else at the first job), and wait until it runs."""
        self._run("the start", os.getpid)

    def pid(self) -> int | None:
        """The child's PID once it runs (tests kill it)."""
        procs = getattr(self._pool, "_processes", None) or {}
        return next(iter(procs), None)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
