"""Catalogue validation: every rejection names the tag and field; dump -> load round-trips."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.catalogue_gen import generate_oilfield
from sim.tags import (
    CatalogueError,
    dump_catalogue,
    dumps_catalogue,
    load_catalogue,
    parse_catalogue,
)

P1 = "acme.site1.area1.line1.cell1.pump1.current"
P2 = "acme.site1.area1.line1.cell1.pump1.speed_sp"


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
        "writable": False,
        "modbus": {"table": "input", "unit_id": 1, "address": 10, "encoding": "float32"},
        "sensor": {"noise_sigma": 0.2, "adc_bits": 12},
    }
    for k, v in over.items():
        if "." in k:
            sect, key = k.split(".")
            t[sect][key] = v
        else:
            t[k] = v
    return t


def _second(**over: Any) -> dict[str, Any]:
    base = {
        "id": 2,
        "path": P2,
        "legacy_name": "40001",
        "unit": "rpm",
        "high": 3600.0,
        "writable": True,
        "modbus.table": "holding",
        "modbus.address": 0,
    }
    base.update(over)
    return _tag(**base)


def _doc(*tags: dict[str, Any]) -> dict[str, Any]:
    return {"format": "twinbench-catalogue", "version": 1, "catalogue": {"name": "t"},
            "tag": [copy.deepcopy(t) for t in tags]}  # fmt: skip


def _rejects(doc: dict[str, Any], path: str, field: str, *words: str) -> str:
    with pytest.raises(CatalogueError) as ei:
        parse_catalogue(doc)
    msg = str(ei.value)
    assert msg.startswith(f"tag {path!r} field {field!r}:"), msg
    for w in words:
        assert w in msg, msg
    return msg


def test_valid_catalogue_loads_with_lookups() -> None:
    cat = parse_catalogue(_doc(_tag(), _second()))
    assert [t.id for t in cat.tags] == [1, 2]
    assert cat.by_path[P2].writable and cat.by_id[1].path == P1
    idx = cat.series_index()
    assert idx.id_of(P2) == 2 and idx.path_of(1) == P1
    assert cat.slice(1, 2).tags == (cat.by_id[2],)


def test_duplicate_id() -> None:
    _rejects(_doc(_tag(), _second(id=1)), P2, "id", "series id 1 is already used", P1)


def test_duplicate_path() -> None:
    _rejects(_doc(_tag(), _second(path=P1)), P1, "path", "duplicate path")


def test_duplicate_legacy_name() -> None:
    _rejects(_doc(_tag(), _second(legacy_name="PLC3:N7:12")), P2, "legacy_name", "already used")


def test_duplicate_address_same_table() -> None:
    t2 = _second(**{"modbus.table": "input", "modbus.address": 10, "writable": False})
    _rejects(_doc(_tag(), t2), P2, "modbus.address", "register 10", f"overlaps tag {P1!r}")


def test_float32_second_register_overlap() -> None:
    # tag 1 owns input registers 10 and 11; a tag at 11 overlaps its low word
    t2 = _second(**{"modbus.table": "input", "modbus.address": 11, "writable": False})
    _rejects(_doc(_tag(), t2), P2, "modbus.address", "input register 11 on unit 1", "overlaps")


def test_same_address_other_table_or_unit_is_fine() -> None:
    parse_catalogue(_doc(_tag(), _second(**{"modbus.address": 10})))
    t2 = _second(**{"modbus.table": "input", "modbus.unit_id": 2, "writable": False})
    parse_catalogue(_doc(_tag(), t2))


def test_unknown_unit() -> None:
    _rejects(_doc(_tag(unit="furlongs")), P1, "unit", "unknown engineering unit 'furlongs'")


@pytest.mark.parametrize(("low", "high"), [(10.0, 10.0), (10.0, 5.0), (0.0, float("inf"))])
def test_low_not_below_high(low: float, high: float) -> None:
    _rejects(_doc(_tag(low=low, high=high)), P1, "low", "below high")


@pytest.mark.parametrize(
    "bad",
    [
        "acme.site1.area1.line1.cell1.pump 1.current",
        "acme.site1.area1.line1.cell1.pump*.current",
        "acme.site1.area1.line1.cell1.pump>.current",
        "acme.site1.area1.line1.cell1..current",
        "acme.site1.area1.line1.cell1.pump1.cur/rent",
    ],
)
def test_invalid_nats_token(bad: str) -> None:
    _rejects(_doc(_tag(path=bad)), bad, "path", "not a valid NATS subject token")


def test_wrong_segment_count() -> None:
    bad = "acme.site1.pump1.current"
    _rejects(_doc(_tag(path=bad)), bad, "path", "has 4 segments, needs 7")


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"modbus.table": "coil", "modbus.encoding": "float32"}, "modbus.encoding"),
        ({"modbus.table": "holding", "modbus.encoding": "bit"}, "modbus.encoding"),
        ({"modbus.table": "discrete", "modbus.encoding": "int16_scaled"}, "modbus.encoding"),
        ({"modbus.table": "coil", "modbus.encoding": "bit"}, "dtype"),  # float32 dtype on a bit
        ({"dtype": "bool"}, "dtype"),  # bool dtype on float32 encoding
    ],
)
def test_encoding_incompatible_with_table(over: dict[str, Any], field: str) -> None:
    _rejects(_doc(_tag(**over)), P1, field, "")


def test_writable_input_register_rejected() -> None:
    _rejects(_doc(_tag(writable=True)), P1, "writable", "holding or coil")


def test_int16_scaled_range_must_fit() -> None:
    t = _tag(**{"modbus.encoding": "int16_scaled", "modbus.scale": 0.001, "dtype": "int16"})
    _rejects(_doc(t), P1, "modbus.scale", "outside int16")
    t = _tag(**{"modbus.encoding": "int16_scaled", "modbus.scale": 0.0, "dtype": "int16"})
    _rejects(_doc(t), P1, "modbus.scale", "non-zero")


def test_address_space_end() -> None:
    # a float32 at 65535 would need register 65536
    _rejects(_doc(_tag(**{"modbus.address": 65535})), P1, "modbus.address", "exceeds 0..65535")


def test_unit_id_range() -> None:
    _rejects(_doc(_tag(**{"modbus.unit_id": 0})), P1, "modbus.unit_id", "1..247")


def test_bad_word_order_and_table() -> None:
    _rejects(_doc(_tag(**{"modbus.word_order": "middle"})), P1, "modbus.word_order", "middle")
    _rejects(_doc(_tag(**{"modbus.table": "eeprom"})), P1, "modbus.table", "eeprom")


def test_id_out_of_uint32() -> None:
    _rejects(_doc(_tag(id=2**32)), P1, "id", "uint32")
    _rejects(_doc(_tag(id=-1)), P1, "id", "uint32")


def test_sensor_fields_checked() -> None:
    _rejects(_doc(_tag(**{"sensor.noise_sigma": -1.0})), P1, "sensor.noise_sigma", ">= 0")
    _rejects(_doc(_tag(**{"sensor.dropout_probability": 1.5})), P1,
             "sensor.dropout_probability", "probability")  # fmt: skip
    _rejects(_doc(_tag(**{"sensor.adc_bits": 40})), P1, "sensor.adc_bits", "0..32")
    _rejects(_doc(_tag(**{"sensor.wobble": 1.0})), P1, "sensor.wobble", "unknown field")


def test_missing_and_mistyped_fields() -> None:
    t = _tag()
    del t["unit"]
    _rejects(_doc(t), P1, "unit", "missing required field")
    _rejects(_doc(_tag(low="zero")), P1, "low", "must be a number")
    _rejects(_doc(_tag(sample_ms=0)), P1, "sample_ms", "positive")
    _rejects(_doc(_tag(deadband=-0.5)), P1, "deadband", ">= 0")
    _rejects(_doc(_tag(colour="red")), P1, "colour", "unknown field")


def test_header_checked(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="version 2 is not supported"):
        parse_catalogue({**_doc(_tag()), "version": 2})
    with pytest.raises(CatalogueError, match="format must be"):
        parse_catalogue({"tag": []})
    bad = tmp_path / "bad.toml"
    bad.write_text("format = \n")
    with pytest.raises(CatalogueError, match=re.escape(str(bad)) + ": not valid TOML"):
        load_catalogue(bad)


def test_strings_with_quotes_round_trip(tmp_path: Path) -> None:
    cat = parse_catalogue(_doc(_tag(description='say "hi"\\ \t\x01 ünïcode')))
    dump_catalogue(cat, tmp_path / "c.toml")
    assert load_catalogue(tmp_path / "c.toml") == cat


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wells=st.integers(1, 230), seed=st.integers(0, 2**32 - 1))
def test_generated_catalogues_round_trip(wells: int, seed: int) -> None:
    cat = generate_oilfield(wells, seed)
    text = dumps_catalogue(cat)
    import tomllib

    back = parse_catalogue(tomllib.loads(text))
    assert back == cat
    assert back.tags == cat.tags
    assert dumps_catalogue(back) == text
