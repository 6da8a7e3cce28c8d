"""The fields of an asyncua DataValue, narrowed: asyncua types every one ``X | None``.

A read or a HistoryRead through asyncua's client fills them; a test that got ``None``
fails here, on the assert, with the DataValue in the message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from asyncua import ua


def value_of(dv: ua.DataValue) -> Any:
    """The value the DataValue's Variant carries (``None`` under a Bad status)."""
    assert dv.Value is not None, dv
    return dv.Value.Value


def status_of(dv: ua.DataValue) -> ua.StatusCode:
    assert dv.StatusCode is not None, dv
    return dv.StatusCode


def source_time_of(dv: ua.DataValue) -> datetime:
    assert dv.SourceTimestamp is not None, dv
    return dv.SourceTimestamp
