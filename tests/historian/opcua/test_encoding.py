"""The columnar HistoryData encoder against asyncua's own decoder (property test), and the
docstring examples of the package."""

from __future__ import annotations

import doctest
import importlib
import math
from datetime import datetime
from typing import Any

import numpy as np
import pytest
from asyncua.common.utils import Buffer
from asyncua.ua.ua_binary import struct_from_binary, struct_to_binary
from hypothesis import given, settings
from hypothesis import strategies as st

from historian.opcua.encoding import (
    EPOCH_TICKS,
    encode_rows,
    history_data,
    ns_to_ticks,
    placeholder,
    ua,
)

rows = st.lists(
    st.tuples(
        st.integers(0, 4_000_000_000 * 10**9),
        st.floats(allow_nan=True, allow_infinity=True, width=64),
        st.sampled_from([0, 0x40A40000, 0x808C0000, 0x80000000, 0x00A50000, 0x40000400]),
    ),
    max_size=40,
)


def _decode(count: int, body: bytes) -> list[Any]:
    res = ua.HistoryReadResult(HistoryData=history_data(count, body))
    back = struct_from_binary(ua.HistoryReadResult, Buffer(struct_to_binary(res)))
    return list(back.HistoryData.DataValues)


@settings(max_examples=150, deadline=None)
@given(rows, st.sampled_from(["source", "both", "server"]), st.sampled_from(["Double", "Float"]))
def test_rows_decode_to_what_was_encoded(data: list[Any], timestamps: str, vtype: str) -> None:
    ts = np.array([r[0] for r in data], np.int64)
    values = np.array([r[1] for r in data], np.float64)
    status = np.array([r[2] for r in data], np.uint32)
    dvs = _decode(
        len(data), encode_rows(ts, values, status, value_type=vtype, timestamps=timestamps)
    )
    assert len(dvs) == len(data)
    for dv, (t, v, code) in zip(dvs, data, strict=True):
        assert dv.StatusCode.value == code
        if code >> 30 >= 2:
            assert dv.Value.Value is None  # a Bad value travels as null
        else:
            with np.errstate(over="ignore"):
                want = float(np.float32(v)) if vtype == "Float" else v
            got = dv.Value.Value
            assert (math.isnan(got) and math.isnan(want)) or got == want
        ticks = int(ns_to_ticks(np.array([t]))[0])
        when = dv.SourceTimestamp if timestamps != "server" else dv.ServerTimestamp
        # asyncua decodes a DateTime (100 ns ticks) to microseconds
        assert when is not None and _us(when) == (ticks - EPOCH_TICKS) // 10
        if timestamps == "source":
            assert dv.SourcePicoseconds == (t % 100) * 100
            assert dv.ServerTimestamp is None
        elif timestamps == "both":
            assert dv.ServerTimestamp == dv.SourceTimestamp and dv.SourcePicoseconds is None
        else:
            assert dv.SourceTimestamp is None


def _us(when: datetime) -> int:
    d = when.replace(tzinfo=None) - datetime(1970, 1, 1)
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def test_booleans_and_placeholders() -> None:
    ts = np.array([10**18, 10**18 + 1], np.int64)
    body = encode_rows(ts, np.array([1.0, 0.0]), np.zeros(2, np.uint32), value_type="Boolean")
    body += placeholder(10**18 + 2_000, ua.StatusCodes.BadBoundNotFound, "source")
    dvs = _decode(3, body)
    assert [dv.Value.Value for dv in dvs] == [True, False, None]
    assert dvs[2].StatusCode.value == ua.StatusCodes.BadBoundNotFound


@pytest.mark.parametrize("name", ["historian.opcua.encoding", "historian.opcua.continuation"])
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
