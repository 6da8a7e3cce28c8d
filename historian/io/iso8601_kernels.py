"""numba kernels for ISO 8601 timestamps over Arrow string buffers (no Python object per row).

``parse_rows`` reads ``data[offsets[i]:offsets[i+1]]`` for each row and writes int64
nanoseconds since the epoch; it returns the index of the first row it refuses (or -1)
so that the caller can explain that row with the careful parser in ``timestamps.py``.
``format_rows`` writes ``YYYY-MM-DDThh:mm:ss.fffffffffZ`` (30 bytes per row).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["WIDTH", "format_rows", "parse_rows"]

WIDTH = 30
_MIN_S = -(2**63) // 10**9 + 1
_MAX_S = (2**63 - 1) // 10**9 - 1


@njit(cache=True, inline="always")
def _days_from_civil(y: int, m: int, d: int) -> int:
    if m <= 2:
        y -= 1
    era = y // 400  # floor division in numba matches Python for negatives
    yoe = y - era * 400
    mp = m - 3 if m > 2 else m + 9
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


@njit(cache=True, inline="always")
def _two(data: np.ndarray, p: int) -> int:
    a = int(data[p]) - 48
    b = int(data[p + 1]) - 48
    if a < 0 or a > 9 or b < 0 or b > 9:
        return -1
    return a * 10 + b


@njit(cache=True, nogil=True)
def parse_rows(data: np.ndarray, offsets: np.ndarray, out: np.ndarray) -> int:
    """Fill ``out`` (int64 ns); return the first invalid row or -1."""
    dim = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    for i in range(len(out)):
        s = offsets[i]
        e = offsets[i + 1]
        if e - s < 20:
            return i
        y = 0
        for k in range(4):
            c = data[s + k] - 48
            if c < 0 or c > 9:
                return i
            y = y * 10 + c
        mo = _two(data, s + 5)
        d = _two(data, s + 8)
        h = _two(data, s + 11)
        mi = _two(data, s + 14)
        sec = _two(data, s + 17)
        if data[s + 4] != 45 or data[s + 7] != 45 or data[s + 13] != 58 or data[s + 16] != 58:
            return i
        t = data[s + 10]
        if t != 84 and t != 116 and t != 32:  # 'T' 't' ' '
            return i
        if mo < 1 or mo > 12 or d < 1 or h < 0 or h > 23 or mi < 0 or mi > 59:
            return i
        if sec < 0 or sec > 59:
            return i
        leap = (y % 4 == 0 and y % 100 != 0) or y % 400 == 0
        if d > dim[mo] + (1 if (mo == 2 and leap) else 0):
            return i
        # zone, from the end: Z | +hh:mm | +hhmm | +hh
        last = data[e - 1]
        off = 0
        if last == 90 or last == 122:
            z = e - 1
        else:
            if e - s >= 25 and (data[e - 6] == 43 or data[e - 6] == 45) and data[e - 3] == 58:
                z = e - 6
                oh, om = _two(data, z + 1), _two(data, z + 4)
            elif e - s >= 24 and (data[e - 5] == 43 or data[e - 5] == 45):
                z = e - 5
                oh, om = _two(data, z + 1), _two(data, z + 3)
            elif data[e - 3] == 43 or data[e - 3] == 45:
                z = e - 3
                oh, om = _two(data, z + 1), 0
            else:
                return i
            if oh < 0 or oh > 23 or om < 0 or om > 59:
                return i
            off = oh * 3600 + om * 60
            if data[z] == 45:
                off = -off
        # fraction between the seconds and the zone
        frac = 0
        n = z - (s + 19)
        if n > 0:
            mark = data[s + 19]
            if (mark != 46 and mark != 44) or n < 2 or n > 10:
                return i
            for k in range(9):
                frac *= 10
                if k < n - 1:
                    c = data[s + 20 + k] - 48
                    if c < 0 or c > 9:
                        return i
                    frac += c
        elif n < 0:
            return i
        secs = _days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off
        if secs < _MIN_S or secs > _MAX_S:
            return i
        out[i] = secs * 1_000_000_000 + frac
    return -1


@njit(cache=True, nogil=True)
def format_rows(ns: np.ndarray, out: np.ndarray) -> None:
    """Write 30 ASCII bytes per timestamp into ``out`` (``len(ns) * WIDTH`` uint8)."""
    for i in range(len(ns)):
        t = ns[i]
        secs = t // 1_000_000_000
        frac = t - secs * 1_000_000_000
        days = secs // 86400
        sod = secs - days * 86400
        z = days + 719468
        era = z // 146097
        doe = z - era * 146097
        yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
        doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
        mp = (5 * doy + 2) // 153
        d = doy - (153 * mp + 2) // 5 + 1
        m = mp + 3 if mp < 10 else mp - 9
        y = yoe + era * 400 + (1 if m <= 2 else 0)
        p = i * WIDTH
        for k in range(3, -1, -1):
            out[p + k] = 48 + y % 10
            y //= 10
        out[p + 4] = 45
        out[p + 5] = 48 + m // 10
        out[p + 6] = 48 + m % 10
        out[p + 7] = 45
        out[p + 8] = 48 + d // 10
        out[p + 9] = 48 + d % 10
        out[p + 10] = 84
        h = sod // 3600
        mi = (sod // 60) % 60
        s = sod % 60
        out[p + 11] = 48 + h // 10
        out[p + 12] = 48 + h % 10
        out[p + 13] = 58
        out[p + 14] = 48 + mi // 10
        out[p + 15] = 48 + mi % 10
        out[p + 16] = 58
        out[p + 17] = 48 + s // 10
        out[p + 18] = 48 + s % 10
        out[p + 19] = 46
        for k in range(28, 19, -1):
            out[p + k] = 48 + frac % 10
            frac //= 10
        out[p + 29] = 90
