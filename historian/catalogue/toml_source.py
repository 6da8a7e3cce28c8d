"""Read the historian's fields from the catalogue TOML (``docs/catalogue-format.md``).

The same file drives the simulator (``sim/tags.py`` reads all of it). The historian
takes only what it needs and never imports ``sim``: the sim-only sections
(``[tag.modbus]``, ``[tag.sensor]``) and fields (``sample_ms``, ``deadband``,
``writable``) are skipped, but any key that *neither* reader knows is an error, so a
typo such as ``steped = true`` cannot silently fall back to the default.

>>> doc = {"format": "twinbench-catalogue", "version": 1, "tag": [
...     {"id": 3, "path": "a.b.c.d.e.f.g", "legacy_name": "40001", "unit": "rpm",
...      "low": 0.0, "high": 3600.0, "dtype": "float32", "stepped": True,
...      "modbus": {"table": "holding"}}]}
>>> [t] = tags_from_document(doc)
>>> t.name, t.stepped, t.unit, t.excdev
('a.b.c.d.e.f.g', True, 'rpm', None)
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from historian.errors import CatalogueError

from .tag import ISA95_SEGMENTS, TagInfo, check_name, default_stepped, fail

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "read_toml_tags", "tags_from_document"]

FORMAT_NAME = "twinbench-catalogue"
FORMAT_VERSION = 1

_REQUIRED = ("id", "path", "legacy_name", "unit", "low", "high", "dtype")
_HISTORIAN_KEYS = frozenset(_REQUIRED) | {"description", "stepped", "excdev", "compdev", "tenant"}
# Keys other readers of the same file own; the historian skips them (documented in
# docs/catalogue-format.md; keep in step with sim/tags.py's Tag fields).
_SIM_KEYS = frozenset({"sample_ms", "deadband", "writable", "modbus", "sensor"})
_NUMBER_FIELDS = ("low", "high", "excdev", "compdev")


def read_toml_tags(path: str | Path) -> list[TagInfo]:
    """Parse and check a catalogue file; raises :class:`CatalogueError`."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            doc = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{p}: not valid TOML: {exc}; fix the file and retry") from exc
    except UnicodeDecodeError as exc:  # tomllib decodes the bytes itself (found by fuzzing)
        raise CatalogueError(f"{p}: byte {exc.start} is not UTF-8; save the file as UTF-8") from exc
    except OSError as exc:
        raise CatalogueError(f"{p}: cannot read catalogue: {exc.strerror or exc}") from exc
    return tags_from_document(doc)


def tags_from_document(doc: dict[str, Any]) -> list[TagInfo]:
    """The :class:`TagInfo` of every ``[[tag]]`` table of a parsed catalogue document."""
    if doc.get("format") != FORMAT_NAME:
        raise CatalogueError(
            f"not a tag catalogue: the top-level key format must be {FORMAT_NAME!r}"
        )
    if doc.get("version") != FORMAT_VERSION:
        raise CatalogueError(
            f"catalogue version {doc.get('version')!r} is not supported; this reader knows "
            f"version {FORMAT_VERSION}"
        )
    raw = doc.get("tag", [])
    if not isinstance(raw, list):
        raise CatalogueError("'tag' must be an array of tables ([[tag]])")
    head = doc.get("catalogue", {})
    if not isinstance(head, dict):
        raise CatalogueError("'catalogue' must be a table ([catalogue])")
    # [catalogue] tenant: the default of every tag without its own (HTTP API tenants)
    tenant = head.get("tenant", "")
    if not isinstance(tenant, str):
        raise CatalogueError(f"[catalogue] tenant {tenant!r} must be a string")
    return [_tag(i, t, tenant) for i, t in enumerate(raw)]


def _tag(i: int, d: Any, default_tenant: str = "") -> TagInfo:
    if not isinstance(d, dict):
        raise CatalogueError(f"tag #{i}: each [[tag]] entry must be a table")
    name = str(d.get("path", f"#{i}"))
    for key in _REQUIRED:
        if key not in d:
            raise fail(name, key, "missing required field")
    unknown = sorted(set(d) - _HISTORIAN_KEYS - _SIM_KEYS)
    if unknown:
        allowed = sorted(_HISTORIAN_KEYS | _SIM_KEYS)
        raise fail(name, unknown[0], f"unknown field; allowed: {allowed}")
    if not isinstance(d["path"], str):
        raise fail(name, "path", f"{d['path']!r} must be a string")
    try:
        check_name(d["path"], segments=ISA95_SEGMENTS)
    except CatalogueError as exc:
        # the TOML calls the field 'path'; the historian's TagInfo calls it 'name'
        raise CatalogueError(str(exc).replace("field 'name'", "field 'path'", 1)) from None
    for key in _NUMBER_FIELDS:
        v = d.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
            raise fail(name, key, f"{v!r} must be a number")
    if not isinstance(d["id"], int) or isinstance(d["id"], bool):
        raise fail(name, "id", f"{d['id']!r} must be an integer (uint32)")
    if not isinstance(d["dtype"], str):
        raise fail(name, "dtype", f"{d['dtype']!r} must be a string")
    if not d["legacy_name"]:
        raise fail(name, "legacy_name", "must be non-empty (the PLC/SCADA name)")
    stepped = d.get("stepped")
    return TagInfo(
        id=d["id"],
        name=d["path"],
        unit=d["unit"],
        low=d["low"],
        high=d["high"],
        stepped=default_stepped(d["dtype"]) if stepped is None else stepped,
        excdev=d.get("excdev"),
        compdev=d.get("compdev"),
        legacy_name=d["legacy_name"],
        description=d.get("description", ""),
        dtype=d["dtype"],
        tenant=d.get("tenant", default_tenant),
    )
