"""Gorilla XOR: the numba encoder writes exactly the bits of a plain reference encoder."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings

from historian.codec.gorilla import gorilla_decode, gorilla_encode
from tests.strategies import float_arrays


def reference_gorilla(values: np.ndarray) -> bytes:
    """Straight from the paper (Prometheus variant: leading zeros capped at 31)."""
    bits = ""
    words = values.view(np.uint64).tolist()
    if not words:
        return b""
    bits += format(words[0], "064b")
    lead, trail = -1, 0
    for prev, cur in itertools.pairwise(words):
        x = prev ^ cur
        if x == 0:
            bits += "0"
            continue
        lz = min(64 - x.bit_length(), 31)
        tz = (x & -x).bit_length() - 1
        if lead >= 0 and lz >= lead and tz >= trail:
            bits += "10" + format(x >> trail, f"0{64 - lead - trail}b")
        else:
            sig = 64 - lz - tz
            bits += "11" + format(lz, "05b") + format(sig & 63, "06b") + format(x >> tz, f"0{sig}b")
            lead, trail = lz, tz
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


@given(values=float_arrays(max_size=120))
@settings(max_examples=150, deadline=None)
def test_encoder_matches_the_reference_bit_for_bit(values: np.ndarray) -> None:
    payload = gorilla_encode(values)
    assert payload == reference_gorilla(values)
    np.testing.assert_array_equal(
        gorilla_decode(payload, values.size).view(np.uint64), values.view(np.uint64)
    )


def test_a_constant_series_costs_one_bit_per_repeat() -> None:
    assert len(gorilla_encode(np.full(801, 3.25))) == (64 + 800) // 8
