"""Times and intervals as the HTTP API takes and gives them, with nanoseconds kept.

Absolute times are ISO 8601: ``2026-01-01T00:00:00Z``, ``2026-01-01T01:00:00.123456789+01:00``,
``2026-01-01`` (midnight). The fraction may have 1 to 9 digits and is kept to the
nanosecond (``datetime`` keeps microseconds only, so this module parses by hand).
A time without ``Z`` or an offset is UTC.

Relative times are PI's: ``*`` (now), ``t`` (today 00:00 UTC), ``y`` (yesterday
00:00 UTC), each optionally followed by offsets: ``*-1h``, ``t+8h``, ``*-7d``,
``y-1d+30m``. A bare offset (``-1h``) is relative to now.

Intervals: a positive number and a unit, ``ns``, ``us``, ``ms``, ``s``, ``m``, ``h``,
``d``, ``w`` (``5s``, ``10m``, ``1.5h``); the result must be a whole number of ns.

Output times are always UTC with nine fraction digits and ``Z``, so every stored
timestamp survives a round trip.

>>> parse_time("2026-01-01T00:00:00.000000001Z")
1767225600000000001
>>> parse_time("2026-01-01T01:00:00+01:00") == parse_time("2026-01-01")
True
>>> parse_time("*-1h", now_ns=7_200 * 10**9)
3600000000000
>>> parse_interval("10m"), parse_interval("1.5s")
(600000000000, 1500000000)
>>> format_time(1767225600000000001)
'2026-01-01T00:00:00.000000001Z'
"""

from __future__ import annotations

import re
import time
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

from historian.model import NS_PER_SECOND, TimeArray

__all__ = [
    "INTERVAL_EXPECTED",
    "TIME_EXPECTED",
    "TimeFormatError",
    "format_time",
    "format_times",
    "parse_interval",
    "parse_time",
]

TIME_EXPECTED = (
    "an ISO 8601 time such as 2026-01-01T00:00:00Z or 2026-01-01T01:00:00.000000001+01:00, "
    "or a PI-style relative time such as *, *-1h, *-7d, t, y-1d"
)
INTERVAL_EXPECTED = "an interval such as 250ms, 5s, 10m, 1h, 1d or 1w (number, then a unit)"

UNIT_NS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "ms": 1_000_000,
    "s": NS_PER_SECOND,
    "m": 60 * NS_PER_SECOND,
    "h": 3_600 * NS_PER_SECOND,
    "d": 86_400 * NS_PER_SECOND,
    "w": 7 * 86_400 * NS_PER_SECOND,
}
NS_PER_DAY = UNIT_NS["d"]
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

_ISO = re.compile(
    r"(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})"
    r"(?:[Tt ](?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?)?"
    r"(?P<tz>[Zz]|[+-]\d{2}(?::?\d{2})?)?)?"
)
_AMOUNT = r"\d+(?:\.\d+)?"
_UNITS = "|".join(sorted(UNIT_NS, key=len, reverse=True))
_INTERVAL = re.compile(rf"(?P<n>{_AMOUNT})\s*(?P<u>{_UNITS})")
_OFFSET = re.compile(rf"\s*(?P<sign>[+-])\s*(?P<n>{_AMOUNT})\s*(?P<u>{_UNITS})")
_BASES = {"*": "now", "now": "now", "t": "today", "today": "today", "y": "yesterday"}
_BASES["yesterday"] = "yesterday"


class TimeFormatError(ValueError):
    """A time or interval the API cannot read; the message says what was expected."""


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def _days_in_month(y: int, m: int) -> int:
    if m == 2:
        return 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28
    return 30 if m in (4, 6, 9, 11) else 31


def _amount_ns(amount: str, unit: str, text: str, what: str) -> int:
    exact = Fraction(amount) * UNIT_NS[unit]
    if exact.denominator != 1:
        raise TimeFormatError(f"{what} {text!r} is not a whole number of nanoseconds")
    return int(exact)


def _checked(ns: int, text: str) -> int:
    if not _INT64_MIN < ns <= _INT64_MAX:
        raise TimeFormatError(
            f"time {text!r} is outside the representable range (1677-09-21 to 2262-04-11 UTC)"
        )
    return ns


def _parse_iso(text: str, m: re.Match[str]) -> int:
    y, mo, d = int(m["y"]), int(m["mo"]), int(m["d"])
    if not 1 <= mo <= 12 or not 1 <= d <= _days_in_month(y, mo):
        raise TimeFormatError(f"time {text!r} names no calendar day; expected {TIME_EXPECTED}")
    h = int(m["h"] or 0)
    mi = int(m["mi"] or 0)
    s = int(m["s"] or 0)
    if h > 23 or mi > 59 or s > 59:
        raise TimeFormatError(
            f"time {text!r} has hour/minute/second out of range (00-23, 00-59, 00-59)"
        )
    frac = int((m["f"] or "").ljust(9, "0"))
    offset_s = 0
    tz = m["tz"]
    if tz and tz not in "Zz":
        digits = tz[1:].replace(":", "")
        oh, om = int(digits[:2]), int(digits[2:] or 0)
        if oh > 23 or om > 59:
            raise TimeFormatError(f"time {text!r} has an offset out of range (-23:59..+23:59)")
        offset_s = (oh * 3_600 + om * 60) * (1 if tz[0] == "+" else -1)
    secs = _days_from_civil(y, mo, d) * 86_400 + h * 3_600 + mi * 60 + s - offset_s
    return _checked(secs * NS_PER_SECOND + frac, text)


def now_ns() -> int:
    return time.time_ns()


def parse_time(text: str, *, now_ns: int | None = None) -> int:
    """ns since the epoch (UTC) of an ISO 8601 or PI-style relative time; see the module doc."""
    s = text.strip()
    if not s:
        raise TimeFormatError(f"time is empty; expected {TIME_EXPECTED}")
    iso = _ISO.fullmatch(s)
    if iso is not None:
        return _parse_iso(text, iso)
    now = time.time_ns() if now_ns is None else now_ns
    base_word = re.match(r"[A-Za-z]+|\*", s)
    rest = s
    if base_word is not None and base_word.group(0).lower() in _BASES:
        kind = _BASES[base_word.group(0).lower()]
        rest = s[base_word.end() :]
        today = now - now % NS_PER_DAY
        base = {"now": now, "today": today, "yesterday": today - NS_PER_DAY}[kind]
    elif s[0] in "+-":
        base = now
    else:
        raise TimeFormatError(f"time {text!r} is not readable; expected {TIME_EXPECTED}")
    pos = 0
    total = base
    while pos < len(rest):
        off = _OFFSET.match(rest, pos)
        if off is None:
            raise TimeFormatError(
                f"time {text!r}: cannot read {rest[pos:]!r} as an offset such as -1h or +30m; "
                f"expected {TIME_EXPECTED}"
            )
        ns = _amount_ns(off["n"], off["u"], text, "offset in")
        total += ns if off["sign"] == "+" else -ns
        pos = off.end()
    return _checked(total, text)


def parse_interval(text: str) -> int:
    """A positive interval in ns (``5s``, ``10m``, ``1h``, ``1d``); see the module doc."""
    m = _INTERVAL.fullmatch(text.strip())
    if m is None:
        raise TimeFormatError(f"interval {text!r} is not readable; expected {INTERVAL_EXPECTED}")
    ns = _amount_ns(m["n"], m["u"], text, "interval")
    if ns <= 0:
        raise TimeFormatError(f"interval {text!r} must be longer than zero")
    return ns


def format_time(ns: int, offset_minutes: int = 0) -> str:
    """``YYYY-MM-DDTHH:MM:SS.fffffffff`` + ``Z`` (or ``+HH:MM`` when an offset is given)."""
    local = int(ns) + offset_minutes * 60 * NS_PER_SECOND
    body = str(np.datetime_as_string(np.datetime64(local, "ns"), unit="ns"))
    if offset_minutes == 0:
        return body + "Z"
    sign = "+" if offset_minutes > 0 else "-"
    hh, mm = divmod(abs(offset_minutes), 60)
    return f"{body}{sign}{hh:02d}:{mm:02d}"


def format_times(ts: TimeArray) -> NDArray[np.bytes_]:
    """Vectorised :func:`format_time` (UTC) as fixed-width ASCII bytes, one per timestamp."""
    text = np.datetime_as_string(np.asarray(ts, dtype=np.int64).view("datetime64[ns]"), unit="ns")
    return np.char.add(text.astype(np.bytes_), b"Z")
