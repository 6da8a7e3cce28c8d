"""The ingest checkpoint: the last stream sequence applied durably to the engine.

One small JSON file per partition, replaced atomically through the file-system
seam (:meth:`historian.fs.FileSystem.write_atomic`: temp file, fsync, rename,
directory fsync), so a crash leaves either the old or the new checkpoint and
tests inject faults into it like into every other file of the store. Format:
``historian/docs/format/checkpoint.md``.

It is advisory for correctness, because the engine's writes are idempotent
(same series and timestamp: last write wins), but it makes a restart resume
exactly and tells ``twinbench historian rebuild`` how far a store had got.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from historian.errors import CorruptDataError
from historian.fs import FileSystem


@dataclass(frozen=True, slots=True)
class Checkpoint:
    stream: str
    partition: int
    stream_seq: int
    batches: int
    points: int


def checkpoint_path(data_dir: Path, partition: int) -> Path:
    return Path(data_dir) / f"ingest-p{partition}.checkpoint.json"


def load_checkpoint(path: Path, fs: FileSystem | None = None) -> Checkpoint | None:
    try:
        raw = (fs or FileSystem()).read_bytes(str(path))
    except FileNotFoundError:
        return None
    try:
        return Checkpoint(**json.loads(raw))
    except (ValueError, TypeError) as exc:
        raise CorruptDataError(
            f"ingest checkpoint {path} is unreadable ({exc}); delete it to resume from the "
            "consumer's own position (writes are idempotent)"
        ) from exc


def save_checkpoint(path: Path, cp: Checkpoint, fs: FileSystem | None = None) -> None:
    (fs or FileSystem()).write_atomic(str(path), json.dumps(asdict(cp)).encode())
