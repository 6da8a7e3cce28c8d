"""Fuzzing the catalogue loaders: only their documented error, always one line.

- The catalogue TOML (``TagCatalogue.load_toml``): mutated file bytes, and parsed
  documents with fields replaced by any TOML value, removed or added, raise only
  :class:`~historian.errors.CatalogueError`.
- The store's ``CATALOGUE`` file (``TagCatalogue.load``): mutated bytes, and mutated
  JSON bodies re-sealed with a correct CRC (what a bug in a writer could leave),
  raise only :class:`CatalogueCorruptError`; a catalogue with tenants round-trips
  (format version 2) and one without keeps the version 1 bytes.

Bounded (hypothesis ``max_examples``): a few seconds in all. Inputs that once
crashed are kept as ``@example`` regressions.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from historian.catalogue import CatalogueCorruptError, CatalogueError, TagCatalogue, TagInfo
from historian.catalogue.persist import CATALOGUE_FILE, HEADER, MAGIC, decode, encode
from historian.catalogue.toml_source import tags_from_document

FUZZ = settings(
    max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), database=None
)

TOML = b"""format = "twinbench-catalogue"
version = 1

[catalogue]
name = "fuzz"
tenant = "plant_a"

[[tag]]
id = 1
path = "acme.site1.area1.line1.cell1.pump1.flow"
legacy_name = "FIC101"
unit = "m3/h"
low = 0.0
high = 5000.0
dtype = "float64"
description = "pump discharge flow"
excdev = 0.5
compdev = 1.0

[[tag]]
id = 2
path = "acme.site1.area1.line1.cell1.pump1.running"
legacy_name = "XS101"
unit = ""
low = 0.0
high = 1.0
dtype = "bool"
stepped = true
tenant = "plant_b"
sample_ms = 1000
[tag.modbus]
table = "coil"
"""
_DIR = Path(tempfile.mkdtemp(prefix="catalogue-fuzz-"))

toml_values = st.recursive(
    st.one_of(
        st.text(max_size=12),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
        st.datetimes(timezones=st.none() | st.just(dt.UTC)),
        st.dates(),
        st.times(),
    ),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
KEYS = ["id", "path", "legacy_name", "unit", "low", "high", "dtype", "description"]
KEYS += ["stepped", "excdev", "compdev", "tenant", "modbus", "sample_ms", "bogus"]


def _one_line(exc: Exception) -> None:
    assert "\n" not in str(exc) and str(exc), repr(str(exc))


def _load_toml(data: bytes) -> None:
    path = _DIR / "catalogue.toml"
    path.write_bytes(data)
    try:
        TagCatalogue.load_toml(path)
    except CatalogueError as exc:
        _one_line(exc)


@st.composite
def mutated_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 5))):
        at = draw(st.integers(0, max(0, len(out) - 1)))
        op = draw(st.sampled_from(["flip", "insert", "delete", "cut", "plant"]))
        if op == "flip" and out:
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and out:
            del out[at : at + draw(st.integers(1, 20))]
        elif op == "cut":
            del out[at:]
        else:
            out[at:at] = draw(
                st.sampled_from([b"[", b"]", b'"', b"=", b"\n", b"[[tag]]\n", b"\xff"])
            )
    return bytes(out)


@given(mutated_bytes(TOML))
@example(b"\xff" + TOML)  # invalid UTF-8: tomllib raises UnicodeDecodeError, not its own error
@example(TOML.replace(b'tenant = "plant_a"', b"tenant = 7"))
@example(TOML.replace(b'tenant = "plant_b"', b'tenant = "plant b"'))
@example(TOML.replace(b'name = "fuzz"', b"[catalogue.x]"))
@example(TOML.replace(b"[catalogue]", b"catalogue = 3\n[other]"))
@FUZZ
def test_mutated_toml_raises_only_catalogue_error(data: bytes) -> None:
    _load_toml(data)


@given(st.data())
@FUZZ
def test_mutated_document_raises_only_catalogue_error(data: st.DataObject) -> None:
    doc = copy.deepcopy(tomllib.loads(TOML.decode()))
    for _ in range(data.draw(st.integers(1, 4))):
        where = data.draw(st.sampled_from(["tag", "head", "top"]))
        target: Any = doc
        if where == "tag" and isinstance(doc.get("tag"), list) and doc["tag"]:
            target = doc["tag"][data.draw(st.integers(0, len(doc["tag"]) - 1))]
        elif where == "head":
            target = doc.get("catalogue")
        if not isinstance(target, dict):
            continue
        key = data.draw(st.sampled_from([*KEYS, "format", "version", "catalogue", "tag"]))
        if data.draw(st.booleans()):
            target[key] = data.draw(toml_values)
        else:
            target.pop(key, None)
    try:
        TagCatalogue(tags_from_document(doc))
    except CatalogueError as exc:
        _one_line(exc)


# ------------------------------------------------------------ the store's file
def _tags() -> list[TagInfo]:
    return list(TagCatalogue.load_toml(_write(TOML)))


def _write(data: bytes) -> Path:
    path = _DIR / "catalogue.toml"
    path.write_bytes(data)
    return path


def _reseal(version: int, body: bytes) -> bytes:
    import crc32c

    return HEADER.pack(MAGIC, version, crc32c.crc32c(body), len(body)) + body


def _decode(raw: bytes) -> None:
    try:
        decode(raw, "CATALOGUE")
    except CatalogueCorruptError as exc:
        _one_line(exc)


@given(st.data())
@FUZZ
def test_mutated_store_catalogue_raises_only_corrupt_error(data: st.DataObject) -> None:
    raw = encode(3, _tags())
    _decode(data.draw(mutated_bytes(raw)))


def _bodies() -> st.SearchStrategy[bytes]:
    def mutate(obj: dict[str, Any], key: str, value: Any, drop: bool) -> bytes:
        target: dict[str, Any] = obj["tags"][0] if key in KEYS else obj
        if drop:
            target.pop(key, None)
        else:
            target[key] = value
        return json.dumps(obj, default=str).encode()

    base = json.loads(encode(3, _tags())[HEADER.size :])
    return st.builds(
        mutate,
        st.just(base).map(copy.deepcopy),
        st.sampled_from([*KEYS, "revision", "tags"]),
        toml_values,
        st.booleans(),
    )


@given(_bodies(), st.sampled_from([1, 2]))
@example(b'{"revision": Infinity, "tags": []}', 2)  # int(inf): OverflowError got through
@example(b"[" * 100_000 + b"]" * 100_000, 2)  # RecursionError in json.loads got through
@example(b'{"revision": 1, "tags": 5}', 1)
@example(b'{"revision": 1, "tags": [[]]}', 1)
@example(b"\xff\xfe", 1)
@FUZZ
def test_resealed_store_catalogue_raises_only_corrupt_error(body: bytes, version: int) -> None:
    _decode(_reseal(version, body))


def test_tenants_round_trip_as_version_2_and_none_keep_version_1(tmp_path: Path) -> None:
    tags = _tags()
    assert [t.tenant for t in tags] == ["plant_a", "plant_b"]  # file default, then its own
    cat = TagCatalogue(tags, revision=4)
    cat.save(tmp_path)
    raw = (tmp_path / CATALOGUE_FILE).read_bytes()
    assert HEADER.unpack_from(raw)[1] == 2
    assert TagCatalogue.load(tmp_path) == cat
    plain = TagCatalogue([TagInfo(t.id, t.name, unit=t.unit) for t in tags])
    raw = encode(0, list(plain))
    assert HEADER.unpack_from(raw)[1] == 1 and b"tenant" not in raw
    assert decode(raw, "x") == (0, list(plain))
