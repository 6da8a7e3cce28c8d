"""Result StatusCodes of Part 13 aggregates, with the exact numeric values.

An aggregate result carries a full 32-bit OPC UA StatusCode. The top 16 bits
are the code proper (Part 4, 7.39; Part 11 and Part 13 add ``Bad_NoData`` and
``Uncertain_DataSubNormal``); the low bits carry the *historian information
bits* (Part 4, 7.39.1 "DataValue InfoBits"; Part 11, 6.5.4.2 / Part 13 5.3.3):

======================  =============  =====================================
bit                     value          meaning
======================  =============  =====================================
InfoType = DataValue    ``0x00000400`` the low bits below are historian bits
HistorianRaw            ``0b00`` (0)   the value is a raw, stored value
HistorianCalculated     ``0x00000001`` calculated from several raw values
HistorianInterpolated   ``0x00000002`` interpolated (or extrapolated) value
HistorianPartial        ``0x00000004`` the interval is not complete
HistorianExtraData      ``0x00000008`` more raw values share the timestamp
HistorianMultiValue     ``0x00000010`` several raw values meet the criterion
======================  =============  =====================================

Calculated and Interpolated share bits 0-1 (the "value source" field, 0 = Raw),
so at most one of them is set. Whenever any historian bit is set, the InfoType
field says DataValue, as Part 4 requires.

>>> hex(compose(UNCERTAIN_DATA_SUB_NORMAL, CALCULATED | PARTIAL))
'0x40a40405'
>>> describe(0x40A40405)
'UncertainDataSubNormal, Calculated, Partial'
>>> describe(BAD_NO_DATA)
'BadNoData'
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from historian.model import Severity, status_code_from_quality

StatusArray = NDArray[np.uint32]

# --- codes (top 16 bits) -----------------------------------------------------
GOOD = 0x00000000
UNCERTAIN = 0x40000000
UNCERTAIN_DATA_SUB_NORMAL = 0x40A40000
BAD = 0x80000000
BAD_NO_DATA = 0x809B0000

# --- historian information bits (low bits) -------------------------------------
INFO_TYPE_DATA_VALUE = 0x00000400
RAW = 0x00000000
CALCULATED = 0x00000001
INTERPOLATED = 0x00000002
PARTIAL = 0x00000004
EXTRA_DATA = 0x00000008
MULTI_VALUE = 0x00000010
HISTORIAN_BITS_MASK = 0x0000001F
CODE_MASK = 0xFFFF0000

# Stored quality of a Bad_NoData point: the historian's "no data here" marker.
QUALITY_BAD_NO_DATA = BAD_NO_DATA >> 16

_NAMES = {
    GOOD: "Good",
    UNCERTAIN: "Uncertain",
    UNCERTAIN_DATA_SUB_NORMAL: "UncertainDataSubNormal",
    BAD: "Bad",
    BAD_NO_DATA: "BadNoData",
}
_BIT_NAMES = (
    (CALCULATED, "Calculated"),
    (INTERPOLATED, "Interpolated"),
    (PARTIAL, "Partial"),
    (EXTRA_DATA, "ExtraData"),
    (MULTI_VALUE, "MultiValue"),
)


def compose(code: int, bits: int) -> int:
    """A StatusCode from a code and historian bits (InfoType set when bits are)."""
    bits &= HISTORIAN_BITS_MASK
    return (code & CODE_MASK) | bits | (INFO_TYPE_DATA_VALUE if bits else 0)


def compose_array(codes: NDArray[np.uint32], bits: NDArray[np.uint32]) -> StatusArray:
    """Vectorised :func:`compose`."""
    b = bits.astype(np.uint32) & np.uint32(HISTORIAN_BITS_MASK)
    info = np.where(b != 0, np.uint32(INFO_TYPE_DATA_VALUE), np.uint32(0)).astype(np.uint32)
    out: StatusArray = (codes.astype(np.uint32) & np.uint32(CODE_MASK)) | b | info
    return out


def describe(status: int) -> str:
    """Symbolic text as the Annex A tables write it, e.g. ``'Good, Interpolated'``."""
    code = status & CODE_MASK
    name = _NAMES.get(code, f"0x{code:08X}")
    bits = [label for bit, label in _BIT_NAMES if status & HISTORIAN_BITS_MASK & bit == bit]
    if status & 0x3 == 0x3:  # reserved value-source combination: name neither
        bits = [b for b in bits if b not in ("Calculated", "Interpolated")]
    return ", ".join([name, *bits])


def parse(text: str) -> int:
    """Inverse of :func:`describe` (accepts the Annex A spelling ``MultipleValues``)."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    by_name = {v: k for k, v in _NAMES.items()}
    bits_by_name = {label: bit for bit, label in _BIT_NAMES}
    bits_by_name["MultipleValues"] = MULTI_VALUE
    code = by_name[parts[0]]
    bits = 0
    for p in parts[1:]:
        bits |= bits_by_name[p]
    return compose(code, bits)


def status_of_quality(quality: NDArray[np.uint16]) -> StatusArray:
    """Stored 16-bit quality -> full StatusCode, one to one (info bits clear)."""
    return (quality.astype(np.uint32) << np.uint32(16)).astype(np.uint32)


__all__ = [
    "BAD",
    "BAD_NO_DATA",
    "CALCULATED",
    "EXTRA_DATA",
    "GOOD",
    "INFO_TYPE_DATA_VALUE",
    "INTERPOLATED",
    "MULTI_VALUE",
    "PARTIAL",
    "QUALITY_BAD_NO_DATA",
    "RAW",
    "UNCERTAIN",
    "UNCERTAIN_DATA_SUB_NORMAL",
    "Severity",
    "StatusArray",
    "compose",
    "compose_array",
    "describe",
    "parse",
    "status_code_from_quality",
    "status_of_quality",
]
