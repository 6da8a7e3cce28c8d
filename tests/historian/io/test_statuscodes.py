"""StatusCode names: the table agrees with the standard's, and names/numbers round trip."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from historian.model import Quality
from historian.statuscodes import NAME_BY_QUALITY, QUALITY_BY_NAME, parse_status, status_name

standard = pytest.importorskip("asyncua.ua.status_codes").StatusCodes


def test_table_matches_the_standard() -> None:
    assert len(QUALITY_BY_NAME) == len(NAME_BY_QUALITY) >= 100  # names and codes unique
    for name, q in QUALITY_BY_NAME.items():
        assert getattr(standard, name) == q << 16, name
    for name in (
        "Good",
        "Uncertain",
        "Bad",
        "BadNoData",
        "UncertainDataSubNormal",
        "BadSensorFailure",
        "BadTimeout",
        "BadShutdown",
        "GoodNoData",
        "UncertainLastUsableValue",
        "BadAggregateInvalidInputs",
    ):
        assert name in QUALITY_BY_NAME


def test_every_model_quality_has_its_standard_name() -> None:
    for q in Quality:
        name = status_name(q)
        assert getattr(standard, name) == int(q) << 16, (q, name)


@given(st.integers(0, 0xFFFF))
def test_any_code_round_trips_through_its_text(q: int) -> None:
    assert parse_status(status_name(q)) == q
    assert parse_status(f"0x{q << 16:08x}") == q
    assert parse_status(str(q << 16)) == q


def test_names_are_case_insensitive_and_numbers_checked() -> None:
    assert parse_status("baDnoDATA") == 0x809B and parse_status(" Good ") == 0
    with pytest.raises(ValueError, match="info bits 0x0400"):
        parse_status("0x00000400")
    with pytest.raises(ValueError, match="does not fit"):
        parse_status("0x100000000")
    with pytest.raises(ValueError, match="neither an OPC UA StatusCode name"):
        parse_status("OK")
