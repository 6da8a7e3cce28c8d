"""Corrupt one file of a collector's spool directory, as a bad disk sector would.

The drain must quarantine the file (``spool/quarantine/``) and keep draining the
rest; the batch's points were never acknowledged, so the ledger counts them as
unacknowledged-and-missing, never as lost.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from historian.collect.spool import SUFFIX

__all__ = ["flip_bytes_in_spool"]


def spool_files(spool_dir: Path) -> list[Path]:
    """Spooled batch files (not temporaries, not the quarantine), oldest first by name."""
    if not spool_dir.is_dir():
        return []
    return sorted(
        p for p in spool_dir.iterdir() if p.is_file() and p.suffix == SUFFIX and p.stat().st_size
    )


def flip_bytes_in_spool(spool_dir: Path, seed: int, n_bytes: int = 8) -> Path | None:
    """XOR ``n_bytes`` seeded positions of the newest spool file with 0xFF; its path, or None
    when the spool holds no file. The newest, because the drain sends the oldest first and
    may be reading it this instant."""
    files = spool_files(spool_dir)
    if not files:
        return None
    target = files[-1]
    rng = random.Random(seed)
    with open(target, "r+b") as f:
        size = os.fstat(f.fileno()).st_size
        for pos in sorted(rng.sample(range(size), min(n_bytes, size))):
            f.seek(pos)
            byte = f.read(1)
            f.seek(pos)
            f.write(bytes([byte[0] ^ 0xFF]))
        f.flush()
        os.fsync(f.fileno())
    return target
