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
  to the forger's own partition;
* with a version 2 file, every series of the batch must also be one the file gives its
  source (:class:`~historian.ingest.series_owners.SeriesSet`, checked over the batch's
  series column at once): a collector cannot write another collector's tags under its
  own ``source_id``.

A batch that fails is dead-lettered whole, with reason ``wrong-source`` (its source)
or ``wrong-series`` (a series of it), and acked, like any other batch that can never
be stored (retrying cannot make it right); none of its points is stored.
The check is on whenever the historian connects with credentials (security on); a
plain deployment keeps accepting what it always did, because a plain bus may have been
re-partitioned with batches still in the stream under the old count.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from historian.bus.subjects import partition_of
from historian.ingest.series_owners import SeriesSet

__all__ = [
    "SOURCE_OWNERS_SCHEMA",
    "SOURCE_OWNERS_SCHEMA_V1",
    "WRONG_SERIES",
    "WRONG_SOURCE",
    "SourceBinding",
    "SourceOwnersError",
    "load_source_owners",
    "write_source_owners",
]

SOURCE_OWNERS_SCHEMA = "twinbench.source-owners/2"
"""What :func:`write_source_owners` writes: partitions' sources and each source's series."""
SOURCE_OWNERS_SCHEMA_V1 = "twinbench.source-owners/1"
"""Still read: partitions' sources only (no series check)."""
WRONG_SOURCE = "wrong-source"
"""The dead-letter reason of a batch whose source does not belong to its partition."""
WRONG_SERIES = "wrong-series"
"""The dead-letter reason of a batch holding a series its source does not own."""
_RANGE = re.compile(r"\[\s+(\d+),\s+(\d+)\s+\]")


class SourceOwnersError(ValueError):
    """The owners file is missing, malformed or disagrees with the partition count."""


@dataclass(frozen=True, slots=True)
class SourceBinding:
    """The rule for one deployment: ``partitions`` and optionally each partition's sources."""

    partitions: int
    owners: Mapping[int, frozenset[str]] | None = field(default=None)
    series: Mapping[str, SeriesSet] | None = field(default=None)
    """Each owner's series (version 2 files); None: series are not checked."""

    def check(
        self, source_id: str, partition: int, series: NDArray[np.uint32]
    ) -> tuple[str, str] | None:
        """(dead-letter reason, detail) of a refused batch, or None when it may be stored."""
        why = self.refusal(source_id, partition)
        if why is not None:
            return WRONG_SOURCE, why
        if self.series is None:
            return None
        owned = self.series.get(source_id)
        if owned is None:  # not reached for an owner (the loader requires every entry)
            return WRONG_SERIES, f"source {source_id!r} owns no series"
        foreign = owned.first_foreign(series)
        if foreign is None:
            return None
        n = int(np.count_nonzero(series == foreign))
        return WRONG_SERIES, (
            f"source {source_id!r} does not own series {foreign} ({n} of the batch's "
            f"{len(series)} points)"
        )

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
    schemas = (SOURCE_OWNERS_SCHEMA, SOURCE_OWNERS_SCHEMA_V1)
    if not isinstance(doc, dict) or doc.get("schema") not in schemas:
        raise SourceOwnersError(f"{path}: not a {' or '.join(schemas)} document")
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
    if doc["schema"] == SOURCE_OWNERS_SCHEMA_V1:
        return SourceBinding(partitions, owners)
    named = set().union(*owners.values()) if owners else set()
    return SourceBinding(partitions, owners, _load_series(path, doc.get("series"), named))


def _load_series(path: Path, doc: Any, owners: set[str]) -> dict[str, SeriesSet]:
    """The ``series`` object of a version 2 file: an entry for every owner, no other."""
    if not isinstance(doc, dict):
        raise SourceOwnersError(f"{path}: needs 'series' (an object: source -> its series)")
    missing, unknown = sorted(owners - set(doc)), sorted(set(doc) - owners)
    if missing:
        raise SourceOwnersError(
            f"{path}: source {missing[0]!r} has no 'series' entry; give its id ranges or \"*\""
        )
    if unknown:
        raise SourceOwnersError(
            f"{path}: 'series' names {unknown[0]!r}, which owns no partition in 'owners'"
        )
    out: dict[str, SeriesSet] = {}
    for source, spec in doc.items():
        where = f"{path}: series of {source!r}"
        if spec == "*":
            out[source] = SeriesSet.ANY
            continue
        if not isinstance(spec, list):
            raise SourceOwnersError(f'{where}: must be "*" or a list of ids and [first, last]')
        items: list[int | tuple[int, int]] = []
        for item in spec:
            if _is_int(item):
                items.append(item)
            elif isinstance(item, list) and len(item) == 2 and all(_is_int(v) for v in item):
                items.append((item[0], item[1]))
            else:
                raise SourceOwnersError(f"{where}: {item!r} is neither an id nor [first, last]")
        try:
            out[source] = SeriesSet.of(items)
        except ValueError as exc:
            raise SourceOwnersError(f"{where}: {exc}") from None
    return out


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _series_json(owned: SeriesSet) -> str | list[int | list[int]]:
    if owned.unrestricted:
        return "*"
    return [lo if lo == hi else [lo, hi] for lo, hi in owned.ranges()]


def write_source_owners(
    path: Path,
    partitions: int,
    sources: Mapping[str, int],
    series: Mapping[str, SeriesSet] | None = None,
) -> None:
    """Write the owners file (version 2) for ``sources`` (source id -> its partition) and
    ``series`` (source id -> the series it may write; a source missing: every series)."""
    owners: dict[str, list[str]] = {}
    for source, p in sorted(sources.items()):
        owners.setdefault(str(p), []).append(source)
    owned = {s: _series_json((series or {}).get(s, SeriesSet.ANY)) for s in sorted(sources)}
    doc = {
        "schema": SOURCE_OWNERS_SCHEMA,
        "partitions": partitions,
        "owners": owners,
        "series": owned,
    }
    text = json.dumps(doc, indent=2, sort_keys=True)
    # one line per [first, last] range (indent=2 would spread each over four)
    text = _RANGE.sub(lambda m: f"[{m.group(1)}, {m.group(2)}]", text)
    path.write_text(text + "\n", encoding="utf-8")
