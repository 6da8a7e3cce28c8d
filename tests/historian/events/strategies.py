"""Hypothesis strategies for plant events."""

from __future__ import annotations

from typing import Literal

from hypothesis import strategies as st

from historian.events.model import KINDS, Event

NS_PER_DAY = 86_400 * 10**9
BASE = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z

SURROGATES: tuple[Literal["Cs"]] = ("Cs",)  # typed: hypothesis' decorators lose the Literal
_text = st.text(st.characters(blacklist_categories=SURROGATES), max_size=40)
_number = st.none() | st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def events(draw: st.DrawFn, day_span: int = 3) -> Event:
    return Event(
        id=draw(st.text("abcdef0123456789:-", min_size=1, max_size=12)),
        # a few fixed times too: equal times (ordered by id) and the day boundaries
        time_ns=BASE
        + draw(
            st.integers(-NS_PER_DAY, day_span * NS_PER_DAY)
            | st.sampled_from([0, 1, NS_PER_DAY - 1, NS_PER_DAY])
        ),
        source=draw(st.sampled_from(["acme.s.a.l.well_0001.pump.vibration", "acme.s.a", "é.x"])),
        kind=draw(st.sampled_from(KINDS)),
        severity=draw(st.integers(1, 1000)),
        message=draw(_text),
        value=draw(_number),
        limit=draw(_number),
        condition=draw(st.sampled_from(["", "HI", "HIHI", "LO", "LOLO"])),
    )
