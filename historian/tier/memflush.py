"""Whether an export round flushes the memtables first, and how far it exports when it does not.

Only segment files are exported: a cold bucket's points still in a memtable stay
hot, and leave in a later round once a flush wrote them (a second, small part).
A forced flush costs the ingest a flush it did not need (a flush it would do
anyway, but early and of a smaller memtable, so more of them and more L0 files
to merge), so a round forces one only when the active memtable really holds
points older than the cutoff (the hot window's edge floored to a store bucket).
A memtable normally holds the last seconds to minutes of data, far less than a
hot window (7 days by default; 60 s in the stress scenario, where a 32 MiB
memtable holds 1.5 M points of 22 bytes, ~30 s at its nominal 50 k points/s):
what is older is a backlog replayed after a restart, late data, or a window
shorter than the memtable's span. Without the flush those points would wait
until the memtable fills, at a low rate for many minutes.

Immutable memtables are queued for flush already: the round forces nothing for
them and exports only the buckets before their oldest point, so a bucket is not
split across rounds by a flush due in a moment.
"""

from __future__ import annotations

from historian.lsm.engine import Historian

__all__ = ["settle_memtables"]


def settle_memtables(db: Historian, cutoff_ns: int) -> tuple[int, int]:
    """Flush if the active memtable holds points before ``cutoff_ns`` (module docstring).

    Returns (the cutoff to export with, flushes forced: 0 or 1)."""
    active, queued = db.memtable_oldest_ns()
    if active is not None and active < cutoff_ns:
        db.flush()  # also waits for the queued memtables: everything before it is in files
        return cutoff_ns, 1
    if queued is not None and queued < cutoff_ns:
        bucket = db.bucket_ns
        return queued // bucket * bucket, 0
    return cutoff_ns, 0
