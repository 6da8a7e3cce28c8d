"""The collector's view of the catalogue TOML: tag id, path, deadband and Modbus location.

The historian's own reader (:mod:`historian.catalogue.toml_source`) skips the
``[tag.modbus]`` table and ``deadband``, and the simulator's reader lives in
``sim`` (which the historian must not import), so a collector started by the
historian (``python -m historian.collect``, the server's connection manager)
reads the few fields it needs here. The file is the one ``docs/catalogue-format.md``
describes; what this reader does not need it ignores, what it needs it checks.

>>> doc = {"format": "twinbench-catalogue", "version": 1, "tag": [
...     {"id": 3, "path": "a.b.c.d.e.f.g", "deadband": 0.5,
...      "modbus": {"table": "holding", "unit_id": 1, "address": 10, "encoding": "float32"}}]}
>>> [t] = collector_tags(doc)
>>> t.id, t.path, t.deadband, t.modbus.address, t.modbus.word_order
(3, 'a.b.c.d.e.f.g', 0.5, 10, 'big')
>>> [t.path for t in select_tags([t], pattern="a.b.*")], select_tags([t], pattern="x.*")
(['a.b.c.d.e.f.g'], [])
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from historian.errors import CatalogueError

__all__ = ["CollectorTag", "ModbusSpot", "collector_tags", "read_collector_tags", "select_tags"]

_TABLES = ("holding", "input", "coil", "discrete")
_ENCODINGS = ("float32", "int16_scaled", "bit")


@dataclass(frozen=True, slots=True)
class ModbusSpot:
    """Where the tag lives on a Modbus device (``historian.collect.modbus_plan.ModbusLocation``)."""

    table: str
    unit_id: int
    address: int
    encoding: str
    word_order: str = "big"
    scale: float = 1.0
    offset: float = 0.0


@dataclass(frozen=True, slots=True)
class CollectorTag:
    """What the Modbus poller and the OPC UA subscriber need of one tag."""

    id: int
    path: str
    deadband: float
    modbus: ModbusSpot


def read_collector_tags(path: str | Path) -> list[CollectorTag]:
    """Parse a catalogue file's collector fields; raises :class:`CatalogueError`."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            doc = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{p}: not valid TOML: {exc}; fix the file and retry") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueError(f"{p}: cannot read catalogue: {exc}") from exc
    return collector_tags(doc)


def collector_tags(doc: dict[str, Any]) -> list[CollectorTag]:
    """The :class:`CollectorTag` of every ``[[tag]]`` of a parsed catalogue document."""
    if doc.get("format") != "twinbench-catalogue" or doc.get("version") != 1:
        raise CatalogueError("not a version 1 tag catalogue (format = 'twinbench-catalogue')")
    raw = doc.get("tag", [])
    if not isinstance(raw, list):
        raise CatalogueError("'tag' must be an array of tables ([[tag]])")
    return [_tag(i, d) for i, d in enumerate(raw)]


def _tag(i: int, d: Any) -> CollectorTag:
    if not isinstance(d, dict):
        raise CatalogueError(f"tag #{i} must be a table")
    name = str(d.get("path", f"#{i}"))
    tag_id, path, mb = d.get("id"), d.get("path"), d.get("modbus")
    if not isinstance(tag_id, int) or isinstance(tag_id, bool) or tag_id < 0:
        raise CatalogueError(f"tag {name}: id {tag_id!r} must be a non-negative integer")
    if not isinstance(path, str) or not path:
        raise CatalogueError(f"tag #{i}: path must be a non-empty string")
    deadband = _number(name, "deadband", d.get("deadband", 0.0))
    if not isinstance(mb, dict):
        raise CatalogueError(f"tag {name}: the [tag.modbus] table is required by collectors")
    table, encoding = mb.get("table"), mb.get("encoding")
    if table not in _TABLES:
        raise CatalogueError(f"tag {name}: modbus.table {table!r} is not one of {_TABLES}")
    if encoding not in _ENCODINGS:
        raise CatalogueError(f"tag {name}: modbus.encoding {encoding!r} is not one of {_ENCODINGS}")
    ints = {}
    for key in ("unit_id", "address"):
        v = mb.get(key)
        if not isinstance(v, int) or isinstance(v, bool):
            raise CatalogueError(f"tag {name}: modbus.{key} {v!r} must be an integer")
        ints[key] = v
    spot = ModbusSpot(
        table=table,
        unit_id=ints["unit_id"],
        address=ints["address"],
        encoding=encoding,
        word_order=str(mb.get("word_order", "big")),
        scale=_number(name, "modbus.scale", mb.get("scale", 1.0)),
        offset=_number(name, "modbus.offset", mb.get("offset", 0.0)),
    )
    return CollectorTag(tag_id, path, deadband, spot)


def _number(name: str, key: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise CatalogueError(f"tag {name}: {key} {v!r} must be a number")
    return float(v)


def select_tags(
    tags: Sequence[CollectorTag],
    *,
    pattern: str | None = None,
    names: Sequence[str] | None = None,
) -> list[CollectorTag]:
    """Tags whose path matches the shell glob ``pattern``, or those named in ``names``
    (in the given order; an unknown name raises :class:`CatalogueError` naming it)."""
    if names is not None:
        by_path = {t.path: t for t in tags}
        unknown = [n for n in names if n not in by_path]
        if unknown:
            more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
            raise CatalogueError(f"tag {unknown[0]!r}{more} is not in the catalogue")
        return [by_path[n] for n in dict.fromkeys(names)]
    match = re.compile(fnmatch.translate(pattern or "*")).match
    return [t for t in tags if match(t.path)]
