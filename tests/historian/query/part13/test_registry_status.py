"""NodeIds against asyncua's copy of the NodeSet; StatusCode numbers against Part 4 / asyncua."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
from asyncua.ua.object_ids import ObjectIds
from asyncua.ua.status_codes import StatusCodes

from historian.model import Quality, status_code_from_quality
from historian.query.part13 import AGGREGATES, AggregateRequestError, lookup
from historian.query.part13 import status as st

REQUIRED = [
    "Interpolative", "Average", "TimeAverage", "TimeAverage2", "Total", "Total2", "Minimum",
    "Maximum", "MinimumActualTime", "MaximumActualTime", "Range", "Minimum2", "Maximum2",
    "MinimumActualTime2", "MaximumActualTime2", "Range2", "Count", "DurationInStateZero",
    "DurationInStateNonZero", "NumberOfTransitions", "Start", "End", "Delta", "StartBound",
    "EndBound", "DeltaBounds", "DurationGood", "DurationBad", "PercentGood", "PercentBad",
    "WorstQuality", "WorstQuality2", "StandardDeviationSample", "StandardDeviationPopulation",
    "VarianceSample", "VariancePopulation",
]  # fmt: skip


def test_every_required_aggregate_is_registered() -> None:
    assert sorted(AGGREGATES) == sorted(REQUIRED)


@pytest.mark.parametrize("name", REQUIRED)
def test_node_id_matches_the_opc_ua_nodeset(name: str) -> None:
    assert AGGREGATES[name].node_id == getattr(ObjectIds, f"AggregateFunction_{name}")
    assert (
        lookup(name) is lookup(AGGREGATES[name].node_id) is lookup(f"i={AGGREGATES[name].node_id}")
    )


def test_lookup_of_an_unknown_aggregate_names_the_known_ones() -> None:
    with pytest.raises(AggregateRequestError, match=r"unknown aggregate 'i=2351'.*TimeAverage"):
        lookup("i=2351")  # AnnotationCount: annotations are not stored


def test_status_codes_match_asyncua() -> None:
    assert StatusCodes.Good == st.GOOD
    assert StatusCodes.Uncertain == st.UNCERTAIN
    assert StatusCodes.UncertainDataSubNormal == st.UNCERTAIN_DATA_SUB_NORMAL
    assert StatusCodes.Bad == st.BAD
    assert StatusCodes.BadNoData == st.BAD_NO_DATA


def test_historian_info_bits_are_part_4_values() -> None:
    # Part 4 7.39.1 / node-opcua's extraStatusCodeBits: InfoType DataValue = 0x400,
    # HistorianCalculated 0x1, Interpolated 0x2, Partial 0x4, ExtraData 0x8, MultiValue 0x10.
    assert (st.INFO_TYPE_DATA_VALUE, st.CALCULATED, st.INTERPOLATED) == (0x400, 0x1, 0x2)
    assert (st.PARTIAL, st.EXTRA_DATA, st.MULTI_VALUE) == (0x4, 0x8, 0x10)
    assert st.compose(st.GOOD, 0) == 0  # no bits: no InfoType either
    assert st.compose(st.BAD_NO_DATA, st.PARTIAL) == 0x809B0404


@pytest.mark.parametrize("quality", [q.value for q in Quality])
def test_stored_quality_maps_to_status_codes_one_to_one(quality: int) -> None:
    code = st.status_of_quality(np.array([quality], np.uint16))[0]
    assert int(code) == status_code_from_quality(quality)
    assert int(code) >> 16 == quality and int(code) & 0xFFFF == 0


def test_parse_and_describe_round_trip() -> None:
    for text in [
        "Good",
        "BadNoData, Partial",
        "UncertainDataSubNormal, Calculated, Partial",
        "Good, Interpolated",
        "UncertainDataSubNormal, MultiValue",
    ]:
        assert st.describe(st.parse(text)) == text


@pytest.mark.parametrize(
    "module",
    ["historian.query.part13", "historian.query.part13.status", "historian.query.part13.config"],
)
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
