"""The routed query's merge (historian.api.routing.merge): property tests over holder splits.

A series whose points are split over holders in time order (a partition handed
over from one store to the next) must come back whole, in order, once per
timestamp; ``last`` is the newest point; a missing tag, a holder's own error and
an unreachable holder are answered as documented.
"""

from __future__ import annotations

import itertools
import json
import random
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from historian.api.encode import iso_matrix
from historian.api.errors import ApiError
from historian.api.routing import merge
from historian.model import NS_PER_SECOND as NS


def answer(items: list[dict[str, Any]]) -> tuple[int, bytes]:
    return 200, json.dumps({"tag": "t", "kind": "recorded", "items": items}).encode()


def items_at(ts: list[int]) -> list[dict[str, Any]]:
    text = [bytes(row).decode() for row in iso_matrix(np.asarray(ts, np.int64))] if ts else []
    return [{"timestamp": t, "value": float(v), "status": "Good", "good": True}
            for t, v in zip(text, ts, strict=True)]  # fmt: skip


@given(
    st.lists(st.integers(0, 10**6), unique=True, max_size=60).map(sorted),
    st.lists(st.integers(0, 60), max_size=4).map(sorted),
    st.randoms(use_true_random=False),
)
def test_split_series_merges_back_whole_and_in_order(
    ts: list[int], cuts: list[int], rnd: random.Random
) -> None:
    stamps = [1_700_000_000 * NS + t * 1_000 for t in ts]
    bounds = [0, *[min(c, len(stamps)) for c in cuts], len(stamps)]
    parts = [stamps[a:b] for a, b in itertools.pairwise(bounds)]
    answers = [(f"n{i}", answer(items_at(p))) for i, p in enumerate(parts)]
    rnd.shuffle(answers)  # late data: a later holder may hold older points
    got = json.loads(bytes(merge("recorded", answers).body))["items"]
    assert [i["value"] for i in got] == [float(s) for s in stamps]
    last = json.loads(bytes(merge("last", answers).body))["items"]
    assert [i["value"] for i in last] == [float(s) for s in stamps[-1:]]


def test_a_shared_timestamp_is_given_once_the_later_holder_winning() -> None:
    old, new = items_at([5 * NS]), items_at([5 * NS])
    new[0]["value"] = 42.0
    got = json.loads(bytes(merge("recorded", [("a", answer(old)), ("b", answer(new))]).body))
    assert [i["value"] for i in got["items"]] == [42.0]


def test_unknown_everywhere_is_404_and_a_holder_error_is_passed_on() -> None:
    missing = (404, b'{"error": {"code": "unknown_tag"}}')
    assert merge("last", [("a", missing), ("b", missing)]).status_code == 404
    assert merge("last", [("a", missing), ("b", answer([]))]).status_code == 200
    bad = (400, b'{"error": {"code": "bad_request"}}')
    assert merge("recorded", [("a", answer([])), ("b", bad)]).status_code == 400


def test_an_unreachable_holder_or_a_second_page_is_refused() -> None:
    with pytest.raises(ApiError) as err:
        merge("recorded", [("a", answer([])), ("b", (0, b"connection refused"))])
    assert err.value.status == 503 and "b" in err.value.message
    paged = (200, json.dumps({"items": [], "next_page_token": "x"}).encode())
    with pytest.raises(ApiError) as err:
        merge("recorded", [("a", paged)])
    assert err.value.status == 413
