"""The historian reads the shared catalogue TOML: the fields it needs, exact messages otherwise."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from historian.catalogue import CatalogueError, TagCatalogue
from historian.catalogue.toml_source import tags_from_document
from sim.tags import dumps_catalogue, load_catalogue, parse_catalogue

P1 = "acme.site1.area1.line1.cell1.pump1.current"
P2 = "acme.site1.area1.line1.cell1.pump1.running"


def _tag(**over: Any) -> dict[str, Any]:
    t: dict[str, Any] = {
        "id": 1,
        "path": P1,
        "legacy_name": "PLC3:N7:12",
        "unit": "A",
        "low": 0.0,
        "high": 200.0,
        "dtype": "float32",
        "sample_ms": 1000,
        "deadband": 0.1,
        "modbus": {"table": "input", "unit_id": 1, "address": 10, "encoding": "float32"},
        "sensor": {"noise_sigma": 0.2},
    }
    t.update(over)
    return t


def _state_tag(**over: Any) -> dict[str, Any]:
    t = _tag(
        id=2,
        path=P2,
        legacy_name="PLC3:B3:0",
        unit="on/off",
        low=0,
        high=1,
        dtype="bool",
        modbus={"table": "discrete", "unit_id": 1, "address": 0, "encoding": "bit"},
    )
    t.pop("sensor")
    t.update(over)
    return t


def _doc(*tags: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": "twinbench-catalogue",
        "version": 1,
        "catalogue": {"name": "t"},
        "tag": [copy.deepcopy(t) for t in tags],
    }


def _rejects(doc: dict[str, Any], path: str, field: str, *words: str) -> None:
    with pytest.raises(CatalogueError) as ei:
        tags_from_document(doc)
    msg = str(ei.value)
    assert msg.startswith(f"tag {path!r} field {field!r}:"), msg
    for w in words:
        assert w in msg, msg


def test_fields_and_step_defaults() -> None:
    tags = tags_from_document(_doc(_tag(), _state_tag(description="pump run state")))
    a, b = tags
    assert (a.id, a.name, a.unit, a.low, a.high, a.dtype) == (1, P1, "A", 0.0, 200.0, "float32")
    assert a.stepped is False and b.stepped is True
    assert a.excdev is None and a.compdev is None and a.legacy_name == "PLC3:N7:12"
    assert b.low == 0.0 and isinstance(b.low, float) and b.description == "pump run state"
    over = tags_from_document(_doc(_tag(stepped=True, excdev=0.5, compdev=1)))[0]
    assert over.stepped is True and over.excdev == 0.5 and over.compdev == 1.0


@pytest.mark.parametrize(
    ("over", "field", "words"),
    [
        ({"steped": True}, "steped", ("unknown field",)),
        ({"stepped": "yes"}, "stepped", ("true or false",)),
        ({"excdev": -1.0}, "excdev", (">= 0",)),
        ({"compdev": "1%"}, "compdev", ("must be a number",)),
        ({"low": 5.0, "high": 5.0}, "low", ("below high",)),
        ({"high": float("inf")}, "high", ("finite",)),
        ({"dtype": "float16"}, "dtype", ("'float16' is not one of",)),
        ({"id": 2**32}, "id", ("uint32",)),
        ({"id": "7"}, "id", ("integer",)),
        ({"legacy_name": ""}, "legacy_name", ("non-empty",)),
        ({"legacy_name": "PLC 3"}, "legacy_name", ("whitespace",)),
    ],
)
def test_bad_fields_named(over: dict[str, Any], field: str, words: tuple[str, ...]) -> None:
    _rejects(_doc(_tag(**over)), P1, field, *words)


def test_bad_paths_named() -> None:
    short = "acme.site1.pump1.current"
    _rejects(_doc(_tag(path=short)), short, "path", "has 4 segments, needs 7")
    spaced = "acme.site1.area1.line1.cell1.pump 1.current"
    _rejects(_doc(_tag(path=spaced)), spaced, "path", "'pump 1' is not a valid")
    t = _tag()
    del t["unit"]
    _rejects(_doc(t), P1, "unit", "missing required field")


def test_duplicates_and_header() -> None:
    with pytest.raises(CatalogueError, match="id 1 is already used"):
        TagCatalogue(tags_from_document(_doc(_tag(), _state_tag(id=1))))
    with pytest.raises(CatalogueError, match="version 2 is not supported"):
        tags_from_document({**_doc(_tag()), "version": 2})
    with pytest.raises(CatalogueError, match="format must be"):
        tags_from_document({"tag": []})


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("format = \n")
    with pytest.raises(CatalogueError, match=f"{bad}: not valid TOML"):
        TagCatalogue.load_toml(bad)
    with pytest.raises(CatalogueError, match="cannot read catalogue"):
        TagCatalogue.load_toml(tmp_path / "missing.toml")


def test_sim_accepts_and_round_trips_the_new_fields(tmp_path: Path) -> None:
    doc = _doc(_tag(stepped=True, excdev=0.25, compdev=0.5), _state_tag())
    cat = parse_catalogue(doc)
    assert cat.tags[0].stepped is True and cat.tags[1].stepped is None
    text = dumps_catalogue(cat)
    assert "stepped = true" in text and "excdev = 0.25" in text and "compdev = 0.5" in text
    (tmp_path / "c.toml").write_text(text)
    assert load_catalogue(tmp_path / "c.toml") == cat
    hist = TagCatalogue.load_toml(tmp_path / "c.toml")
    assert [(t.stepped, t.excdev, t.compdev) for t in hist] == [
        (True, 0.25, 0.5),
        (True, None, None),
    ]
    bad = _doc(_tag(excdev=-0.1))
    with pytest.raises(Exception, match=f"tag {P1!r} field 'excdev'"):
        parse_catalogue(bad)


def test_generated_sim_catalogue_loads(tmp_path: Path) -> None:
    """`twinbench sim catalogue --profile normal` output is read by the historian unchanged."""
    out = tmp_path / "normal.toml"
    twinbench = Path(sys.executable).with_name("twinbench")
    env = {**os.environ, "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", "/tmp/numba-cache")}
    subprocess.run(
        [str(twinbench), "sim", "catalogue", "--profile", "normal", "-o", str(out)],
        check=True,
        capture_output=True,
        timeout=120,
        env=env,
    )
    sim_cat = load_catalogue(out)
    cat = TagCatalogue.load_toml(out)
    assert len(cat) == len(sim_cat) == 500
    for t in sim_cat.tags:
        h = cat.by_id(t.id)
        assert h is not None
        assert (h.name, h.unit, h.low, h.high, h.legacy_name, h.dtype) == (
            t.path,
            t.unit,
            t.low,
            t.high,
            t.legacy_name,
            t.dtype,
        )
        assert h.stepped == (t.dtype in ("bool", "int16"))
    assert cat.series_index().id_of(sim_cat.tags[-1].path) == sim_cat.tags[-1].id
    cat.save(tmp_path)
    assert TagCatalogue.load(tmp_path) == cat
