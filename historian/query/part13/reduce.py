"""Vectorised reductions of raw values over the intervals' index spans ``[i0, i1)``.

The intervals are contiguous and ascending, so ``i1[k] == i0[k + 1]`` and one
``ufunc.reduceat`` call covers them all. Empty spans give the identity.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def span_reduce(
    values: NDArray[np.float64],
    i0: NDArray[np.intp],
    i1: NDArray[np.intp],
    ufunc: np.ufunc,
    identity: float,
) -> NDArray[np.float64]:
    """``ufunc`` over ``values[i0[k]:i1[k]]`` for every k (``identity`` where empty)."""
    if i0.size == 0:
        return np.zeros(0)
    end = int(i1[-1])
    arr = np.concatenate([values[:end], [identity]])
    out = ufunc.reduceat(arr, np.minimum(i0, end))
    res: NDArray[np.float64] = np.where(i1 > i0, out, identity)
    return res


def span_count(
    mask: NDArray[np.bool_], i0: NDArray[np.intp], i1: NDArray[np.intp]
) -> NDArray[np.int64]:
    c = np.zeros(mask.size + 1, np.int64)
    np.cumsum(mask, out=c[1:])
    out: NDArray[np.int64] = c[i1] - c[i0]
    return out


def span_first(
    mask: NDArray[np.bool_], i0: NDArray[np.intp], i1: NDArray[np.intp]
) -> NDArray[np.intp]:
    """Index of the first True in each span (-1 where none)."""
    idx = np.where(mask, np.arange(mask.size, dtype=np.float64), np.inf)
    first = span_reduce(idx, i0, i1, np.minimum, np.inf)
    out: NDArray[np.intp] = np.where(np.isfinite(first), first, -1).astype(np.intp)
    return out


def span_last(
    mask: NDArray[np.bool_], i0: NDArray[np.intp], i1: NDArray[np.intp]
) -> NDArray[np.intp]:
    """Index of the last True in each span (-1 where none)."""
    idx = np.where(mask, np.arange(mask.size, dtype=np.float64), -np.inf)
    last = span_reduce(idx, i0, i1, np.maximum, -np.inf)
    out: NDArray[np.intp] = np.where(np.isfinite(last), last, -1).astype(np.intp)
    return out


def point_interval(
    ts: NDArray[np.int64], i0: NDArray[np.intp], i1: NDArray[np.intp]
) -> NDArray[np.intp]:
    """For every raw index, the interval whose span holds it (-1 outside all spans)."""
    owner = np.full(ts.size, -1, np.intp)
    if i0.size:
        lengths = (i1 - i0).astype(np.intp)
        idx = np.arange(int(i0[0]), int(i1[-1]), dtype=np.intp)
        owner[idx] = np.repeat(np.arange(i0.size, dtype=np.intp), lengths)
    return owner
