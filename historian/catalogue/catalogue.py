"""The tag catalogue: every series the store knows, by id and by name.

Ids are never renumbered: :meth:`TagCatalogue.merged` refuses an edit that would move
a name to another id (data is stored under the id), and new tags from an import get
ids above every id in use. Each change gives a new catalogue with ``revision + 1``;
:meth:`TagCatalogue.save` persists it in the store (``persist.py``).

>>> import tempfile
>>> cat = TagCatalogue([TagInfo(1, "plant.a.flow", unit="m3/h")])
>>> cat = cat.with_new_tags(["plant.a.valve_open", "plant.b.flow"], dtype="bool")
>>> [(t.id, t.name, t.stepped) for t in cat]
[(1, 'plant.a.flow', False), (2, 'plant.a.valve_open', True), (3, 'plant.b.flow', True)]
>>> [t.id for t in cat.match("plant.*.flow")], cat.revision
([1, 3], 1)
>>> d = tempfile.mkdtemp()
>>> cat.save(d)
>>> TagCatalogue.load(d) == cat
True
>>> cat.merged(TagCatalogue([TagInfo(9, "plant.a.flow")]))
Traceback (most recent call last):
...
historian.errors.CatalogueError: tag 'plant.a.flow' field 'id': the store has it as id 1, \
the new catalogue says 9; ids are never renumbered: keep id 1 or give the tag a new name
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from historian.fs import FileSystem
from historian.model import SeriesIndex

from .persist import read_catalogue_file, write_catalogue_file
from .tag import TagInfo, fail
from .toml_source import read_toml_tags

__all__ = ["TagCatalogue"]


class TagCatalogue:
    """An immutable set of :class:`TagInfo`, iterated in id order."""

    __slots__ = ("_by_id", "_by_name", "_order", "revision")

    def __init__(self, tags: Iterable[TagInfo] = (), *, revision: int = 0) -> None:
        by_id: dict[int, TagInfo] = {}
        by_name: dict[str, TagInfo] = {}
        legacy: dict[str, TagInfo] = {}
        for t in tags:
            if t.id in by_id:
                raise fail(t.name, "id", f"id {t.id} is already used by tag {by_id[t.id].name!r}")
            if t.name in by_name:
                raise fail(t.name, "name", "duplicate name; every tag needs its own path")
            if t.legacy_name and t.legacy_name in legacy:
                other = legacy[t.legacy_name].name
                raise fail(t.name, "legacy_name", f"{t.legacy_name!r} is already used by {other!r}")
            by_id[t.id] = by_name[t.name] = t
            if t.legacy_name:
                legacy[t.legacy_name] = t
        self._order = tuple(by_id[i] for i in sorted(by_id))
        self._by_id = by_id
        self._by_name = by_name
        self.revision = revision
        """How many changes made this catalogue (0 = never edited since it was built)."""

    # ------------------------------------------------------------- sources
    @classmethod
    def load_toml(cls, path: str | Path) -> TagCatalogue:
        """The historian's view of a catalogue TOML (``docs/catalogue-format.md``)."""
        return cls(read_toml_tags(path))

    @classmethod
    def load(cls, data_dir: str | Path, fs: FileSystem | None = None) -> TagCatalogue | None:
        """The catalogue persisted in a store, or None if the store has none yet."""
        found = read_catalogue_file(str(data_dir), fs)
        if found is None:
            return None
        revision, tags = found
        return cls(tags, revision=revision)

    def save(self, data_dir: str | Path, fs: FileSystem | None = None) -> None:
        """Persist atomically in the store directory (replaces the previous copy)."""
        write_catalogue_file(str(data_dir), self.revision, self._order, fs)

    # ------------------------------------------------------------- lookups
    def __iter__(self) -> Iterator[TagInfo]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TagCatalogue):
            return NotImplemented
        return self._order == other._order and self.revision == other.revision

    def __hash__(self) -> int:
        return hash((self._order, self.revision))

    def __repr__(self) -> str:
        return f"TagCatalogue({len(self)} tags, revision {self.revision})"

    def by_name(self, name: str) -> TagInfo | None:
        return self._by_name.get(name)

    def by_id(self, series_id: int) -> TagInfo | None:
        return self._by_id.get(int(series_id))

    def match(self, pattern: str) -> list[TagInfo]:
        """Tags whose name matches a shell glob (``*``, ``?``, ``[...]``), in id order."""
        rx = re.compile(fnmatch.translate(pattern))
        return [t for t in self._order if rx.match(t.name)]

    def series_index(self) -> SeriesIndex:
        return SeriesIndex({t.id: t.name for t in self._order})

    @property
    def next_id(self) -> int:
        """The id a new tag gets: one above the highest in use (ids are never reused)."""
        return self._order[-1].id + 1 if self._order else 1

    # ------------------------------------------------------------- changes
    def merged(self, other: Iterable[TagInfo]) -> TagCatalogue:
        """Upsert: ``other``'s metadata replaces a same-named tag's; new names are added.

        A tag keeps its id forever: a same name with another id, or a new name on an id
        that is taken, raises :class:`~historian.errors.CatalogueError`. Returns ``self``
        when nothing changes, else a catalogue with ``revision + 1``.
        """
        tags = dict(self._by_id)
        changed = False
        for t in other:
            old = self._by_name.get(t.name)
            if old is not None and old.id != t.id:
                raise fail(
                    t.name,
                    "id",
                    f"the store has it as id {old.id}, the new catalogue says {t.id}; ids are "
                    f"never renumbered: keep id {old.id} or give the tag a new name",
                )
            holder = tags.get(t.id)
            if old is None and holder is not None:
                raise fail(
                    t.name,
                    "id",
                    f"id {t.id} already belongs to {holder.name!r} in the store; "
                    f"give this tag a free id (the next free one is {self.next_id})",
                )
            if tags.get(t.id) != t:
                tags[t.id] = t
                changed = True
        if not changed:
            return self
        return TagCatalogue(tags.values(), revision=self.revision + 1)

    def upsert(self, tag: TagInfo) -> TagCatalogue:
        return self.merged([tag])

    def with_new_tags(self, names: Iterable[str], *, dtype: str = "float64") -> TagCatalogue:
        """Add every name not yet known, with fresh ids in the given order (import's rule)."""
        fresh: list[TagInfo] = []
        next_id = self.next_id
        seen = set(self._by_name)
        for name in names:
            if name in seen:
                continue
            seen.add(name)
            fresh.append(TagInfo(next_id, name, dtype=dtype))
            next_id += 1
        return self.merged(fresh)

    def replace(self, name: str, **changes: object) -> TagCatalogue:
        """One tag with some fields changed (never ``id`` or ``name``)."""
        old = self._by_name.get(name)
        if old is None:
            raise fail(name, "name", "no such tag in the catalogue")
        if "id" in changes or "name" in changes:
            raise fail(name, "id", "ids and names never change; add a new tag instead")
        return self.merged([dataclasses.replace(old, **changes)])  # type: ignore[arg-type]
