"""The ingest checkpoint: the last stream sequence applied durably to the engine.

One small JSON file per partition, replaced atomically (write temp, fsync,
rename, fsync dir), so a crash leaves either the old or the new checkpoint.
It is advisory for correctness, because the engine's writes are idempotent
(same series and timestamp: last write wins), but it makes a restart resume
exactly and tells ``twinbench historian rebuild`` how far a store had got.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from historian.errors import CorruptDataError


@dataclass(frozen=True, slots=True)
class Checkpoint:
    stream: str
    partition: int
    stream_seq: int
    batches: int
    points: int


def checkpoint_path(data_dir: Path, partition: int) -> Path:
    return Path(data_dir) / f"ingest-p{partition}.checkpoint.json"


def load_checkpoint(path: Path) -> Checkpoint | None:
    try:
        raw = path.read_text()
    except FileNotFoundError:
        return None
    try:
        return Checkpoint(**json.loads(raw))
    except (ValueError, TypeError) as exc:
        raise CorruptDataError(
            f"ingest checkpoint {path} is unreadable ({exc}); delete it to resume from the "
            "consumer's own position (writes are idempotent)"
        ) from exc


def save_checkpoint(path: Path, cp: Checkpoint) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        json.dump(asdict(cp), f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
