"""TagCatalogue: lookups, globbing, upserts that never renumber, persistence round trips."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from historian.catalogue import CatalogueCorruptError, CatalogueError, TagCatalogue, TagInfo
from historian.catalogue.persist import CATALOGUE_FILE, HEADER, MAGIC, encode
from historian.fs import Faults, FaultyFileSystem, SimulatedCrash
from historian.lsm.engine import Historian

_token = st.text("abcXYZ019_-", min_size=1, max_size=6)
_names = st.lists(_token, min_size=1, max_size=7).map(".".join)
_finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
_dev = st.none() | st.floats(0, 1e12, allow_nan=False)
_text = st.text(max_size=20)  # any unicode, quotes, control characters, surrogates excluded


@st.composite
def tag_infos(draw: st.DrawFn, sid: int, name: str) -> TagInfo:
    rng = draw(st.none() | st.tuples(_finite, _finite).filter(lambda r: r[0] < r[1]))
    return TagInfo(
        id=sid,
        name=name,
        unit=draw(_text),
        low=None if rng is None else rng[0],
        high=None if rng is None else rng[1],
        stepped=draw(st.booleans()),
        excdev=draw(_dev),
        compdev=draw(_dev),
        legacy_name=draw(st.text("ABC:0123.", max_size=8)),
        description=draw(_text),
        dtype=draw(st.sampled_from(["float64", "float32", "int16", "bool"])),
    )


@st.composite
def catalogues(draw: st.DrawFn) -> TagCatalogue:
    names = draw(st.lists(_names, unique=True, max_size=12))
    ids = draw(
        st.lists(st.integers(0, 2**32 - 1), unique=True, min_size=len(names), max_size=len(names))
    )
    tags = [draw(tag_infos(i, n)) for i, n in zip(ids, names, strict=True)]
    # legacy names must be unique when non-empty
    seen: set[str] = set()
    fixed = []
    for t in tags:
        if t.legacy_name in seen:
            t = TagInfo(**{**t.to_dict(), "legacy_name": ""})
        seen.add(t.legacy_name)
        fixed.append(t)
    return TagCatalogue(fixed, revision=draw(st.integers(0, 2**40)))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cat=catalogues())
def test_save_load_round_trip(tmp_path: Path, cat: TagCatalogue) -> None:
    cat.save(tmp_path)
    back = TagCatalogue.load(tmp_path)
    assert back == cat
    assert back is not None and [t.to_dict() for t in back] == [t.to_dict() for t in cat]
    assert [t.id for t in back] == sorted(t.id for t in cat)


def test_load_absent_is_none(tmp_path: Path) -> None:
    assert TagCatalogue.load(tmp_path) is None


def test_lookups_and_glob() -> None:
    cat = TagCatalogue(
        [
            TagInfo(10, "acme.s.a.l.c.pump1.speed", unit="rpm", legacy_name="40001"),
            TagInfo(3, "acme.s.a.l.c.pump1.running", dtype="bool"),
            TagInfo(7, "acme.s.a.l.c.pump2.speed"),
        ]
    )
    assert [t.id for t in cat] == [3, 7, 10] and len(cat) == 3
    assert cat.by_name("acme.s.a.l.c.pump1.speed") == cat.by_id(10)
    assert cat.by_name("nope") is None and cat.by_id(4) is None
    assert [t.id for t in cat.match("*.speed")] == [7, 10]
    assert [t.id for t in cat.match("acme.s.a.l.c.pump1.*")] == [3, 10]
    assert cat.match("acme.s.a.l.c.pump[2].speed")[0].id == 7
    assert cat.match("*.SPEED") == []  # case-sensitive, like the paths themselves
    idx = cat.series_index()
    assert idx.id_of("acme.s.a.l.c.pump2.speed") == 7 and idx.path_of(3).endswith("running")
    assert cat.by_id(3).stepped is True and cat.by_id(7).stepped is False  # type: ignore[union-attr]
    assert cat.next_id == 11


def test_duplicates_rejected() -> None:
    with pytest.raises(
        CatalogueError, match=r"^tag 'a\.c' field 'id': id 1 is already used by tag 'a\.b'"
    ):
        TagCatalogue([TagInfo(1, "a.b"), TagInfo(1, "a.c")])
    with pytest.raises(CatalogueError, match=r"^tag 'a\.b' field 'name': duplicate name"):
        TagCatalogue([TagInfo(1, "a.b"), TagInfo(2, "a.b")])
    with pytest.raises(CatalogueError, match=r"^tag 'a\.c' field 'legacy_name': 'X1' is already"):
        TagCatalogue([TagInfo(1, "a.b", legacy_name="X1"), TagInfo(2, "a.c", legacy_name="X1")])


def test_merge_keeps_ids_and_counts_revisions() -> None:
    base = TagCatalogue([TagInfo(1, "a.b", unit="psi")])
    same = base.merged([TagInfo(1, "a.b", unit="psi")])
    assert same is base and same.revision == 0
    upd = base.merged([TagInfo(1, "a.b", unit="bar", compdev=0.5), TagInfo(4, "a.c")])
    assert upd.revision == 1 and upd.by_name("a.b").unit == "bar"  # type: ignore[union-attr]
    assert [t.id for t in upd] == [1, 4]
    with pytest.raises(CatalogueError, match="the store has it as id 1, the new catalogue says 2"):
        upd.merged([TagInfo(2, "a.b")])
    with pytest.raises(CatalogueError, match=r"id 4 already belongs to 'a\.c'.*next free one is 5"):
        upd.merged([TagInfo(4, "a.d")])
    grown = upd.with_new_tags(["a.c", "z.q", "z.q", "z.r"])
    assert [(t.id, t.name) for t in grown] == [(1, "a.b"), (4, "a.c"), (5, "z.q"), (6, "z.r")]
    assert grown.revision == 2
    assert grown.with_new_tags(["a.b"]) is grown
    stepped = grown.replace("z.q", stepped=True)
    assert stepped.by_name("z.q").stepped is True and stepped.revision == 3  # type: ignore[union-attr]
    with pytest.raises(CatalogueError, match="never change"):
        grown.replace("z.q", id=9)


def test_upsert_property_ids_never_move() -> None:
    cat = TagCatalogue()
    for batch in (["p.a", "p.b"], ["p.b", "p.c"], ["p.a", "p.d", "p.c"]):
        before = {t.name: t.id for t in cat}
        cat = cat.with_new_tags(batch)
        after = {t.name: t.id for t in cat}
        assert all(after[n] == i for n, i in before.items())
    assert sorted(after.values()) == [1, 2, 3, 4]


def _saved(tmp_path: Path) -> bytes:
    TagCatalogue([TagInfo(1, "a.b", unit="psi")], revision=2).save(tmp_path)
    return (tmp_path / CATALOGUE_FILE).read_bytes()


def test_bit_flip_and_truncation_are_detected(tmp_path: Path) -> None:
    raw = bytearray(_saved(tmp_path))
    raw[HEADER.size + 5] ^= 0x01
    (tmp_path / CATALOGUE_FILE).write_bytes(raw)
    with pytest.raises(CatalogueCorruptError, match="checksum mismatch; re-create it"):
        TagCatalogue.load(tmp_path)
    (tmp_path / CATALOGUE_FILE).write_bytes(bytes(raw[:10]))
    with pytest.raises(CatalogueCorruptError, match="too short"):
        TagCatalogue.load(tmp_path)


def test_newer_version_refused(tmp_path: Path) -> None:
    raw = bytearray(_saved(tmp_path))
    raw[8:12] = (3).to_bytes(4, "little")  # version 2 (tenants) is known since issue 19
    (tmp_path / CATALOGUE_FILE).write_bytes(raw)
    with pytest.raises(CatalogueCorruptError, match="version 3 is not supported"):
        TagCatalogue.load(tmp_path)
    (tmp_path / CATALOGUE_FILE).write_bytes(b"XXXXXXXX" + bytes(raw[8:]))
    with pytest.raises(CatalogueCorruptError, match="bad magic"):
        TagCatalogue.load(tmp_path)


def test_structurally_bad_body_refused(tmp_path: Path) -> None:
    import json

    import crc32c

    body = json.dumps({"revision": 1, "tags": [{"id": 1, "name": "a.b"}]}).encode()
    (tmp_path / CATALOGUE_FILE).write_bytes(
        HEADER.pack(MAGIC, 1, crc32c.crc32c(body), len(body)) + body
    )
    with pytest.raises(CatalogueCorruptError, match="malformed catalogue body"):
        TagCatalogue.load(tmp_path)
    assert encode(0, []).startswith(MAGIC)


@pytest.mark.parametrize("point", ["CATALOGUE.before_rename", "CATALOGUE.before_dir_sync"])
def test_crash_leaves_old_or_new(tmp_path: Path, point: str) -> None:
    old = TagCatalogue([TagInfo(1, "a.b")], revision=1)
    old.save(tmp_path)
    new = old.with_new_tags(["a.c"])
    fs = FaultyFileSystem(Faults(crash_at=point))
    with pytest.raises(SimulatedCrash):
        new.save(tmp_path, fs)
    assert TagCatalogue.load(tmp_path) in (old, new)
    new.save(tmp_path)
    assert TagCatalogue.load(tmp_path) == new


def test_engine_keeps_the_catalogue_file(tmp_path: Path) -> None:
    """The engine's startup cleanup must not treat CATALOGUE as an orphan (and drops its tmp)."""
    cat = TagCatalogue([TagInfo(1, "a.b")])
    cat.save(tmp_path)
    (tmp_path / (CATALOGUE_FILE + ".tmp")).write_bytes(b"half")
    with Historian.open(str(tmp_path)) as db:
        db.write_arrays([1], [10], [1.0])
        cat.save(tmp_path)  # saving while this process holds the store is allowed
    assert TagCatalogue.load(tmp_path) == cat
    assert not os.path.exists(tmp_path / (CATALOGUE_FILE + ".tmp"))
