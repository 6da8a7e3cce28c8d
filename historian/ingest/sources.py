"""Which sources may arrive on a partition: the ingest's guard against forged ``source_id``.

nats-server checks who may publish to a subject, never what the payload says. A
collector allowed only on ``tb.ingest.p2`` can still put another collector's
``source_id`` (and so its batch ids, its dedup window and its applied notices) in a
batch it publishes there. The ingest therefore checks every decoded batch against the
partition it was consumed from:

* the routing rule every publisher follows (:func:`historian.bus.subjects.partition_of`):
  ``crc32c(source_id) % partitions`` must be the partition of the subject; a source that
  hashes elsewhere was not published by its owner (whose identity may publish only to
  its own partition);
* when an owners file is given (``--source-owners``, format in
  ``historian/docs/format/source-owners.md``), the source must also be one the file
  names for that partition; it closes the gap of a made-up source that happens to hash
  to the forger's own partition.

A batch that fails is dead-lettered whole with reason ``wrong-source`` and acked,
like any other batch that can never be stored (retrying cannot make it right).
The check is on whenever the historian connects with credentials (security on); a
plain deployment keeps accepting what it always did, because a plain bus may have been
re-partitioned with batches still in the stream under the old count.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from historian.bus.subjects import partition_of

__all__ = [
    "SOURCE_OWNERS_SCHEMA",
    "WRONG_SOURCE",
    "SourceBinding",
    "SourceOwnersError",
    "load_source_owners",
    "write_source_owners",
]

SOURCE_OWNERS_SCHEMA = "twinbench.source-owners/1"
WRONG_SOURCE = "wrong-source"
"""The dead-letter reason of a batch whose source does not belong to its partition."""


class SourceOwnersError(ValueError):
    """The owners file is missing, malformed or disagrees with the partition count."""


@dataclass(frozen=True, slots=True)
class SourceBinding:
    """The rule for one deployment: ``partitions`` and optionally each partition's sources."""

    partitions: int
    owners: Mapping[int, frozenset[str]] | None = field(default=None)

    def refusal(self, source_id: str, partition: int) -> str | None:
        """Why a batch of ``source_id`` consumed from ``partition`` is refused, or None."""
        home = partition_of(source_id, self.partitions)
        if home != partition:
            return (
                f"source {source_id!r} belongs to partition {home} of {self.partitions}, "
                f"but its batch was published on partition {partition}"
            )
        if self.owners is not None and source_id not in self.owners.get(partition, ()):
            return f"source {source_id!r} is not an owner of partition {partition}"
        return None


def load_source_owners(path: Path) -> SourceBinding:
    """Read an owners file; every source must hash to the partition it is listed under."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SourceOwnersError(f"{path}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("schema") != SOURCE_OWNERS_SCHEMA:
        raise SourceOwnersError(f"{path}: not a {SOURCE_OWNERS_SCHEMA} document")
    partitions = doc.get("partitions")
    owners_doc = doc.get("owners")
    if not isinstance(partitions, int) or partitions < 1 or not isinstance(owners_doc, dict):
        raise SourceOwnersError(f"{path}: needs 'partitions' (>= 1) and 'owners' (an object)")
    owners: dict[int, frozenset[str]] = {}
    for key, sources in owners_doc.items():
        if not key.isdigit() or not 0 <= int(key) < partitions:
            raise SourceOwnersError(f"{path}: partition {key!r} outside 0..{partitions - 1}")
        if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
            raise SourceOwnersError(f"{path}: owners of partition {key} must be a list of names")
        for s in sources:
            if partition_of(s, partitions) != int(key):
                raise SourceOwnersError(
                    f"{path}: source {s!r} is listed under partition {key} but routes to "
                    f"partition {partition_of(s, partitions)} of {partitions}"
                )
        owners[int(key)] = frozenset(sources)
    return SourceBinding(partitions, owners)


def write_source_owners(path: Path, partitions: int, sources: Mapping[str, int]) -> None:
    """Write the owners file for ``sources`` (source id -> its partition)."""
    owners: dict[str, list[str]] = {}
    for source, p in sorted(sources.items()):
        owners.setdefault(str(p), []).append(source)
    doc = {"schema": SOURCE_OWNERS_SCHEMA, "partitions": partitions, "owners": owners}
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
