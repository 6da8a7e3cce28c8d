"""The sample a chunk's codecs are ranked on: evenly spread contiguous windows.

Shared by the chooser (``chunk.encode_values`` ranks every value codec on it)
and the scaled mapping search (``scaled.choose_mapping``), so the search run
while ranking is the one the full encode finds memoised: deltas inside a
window are real deltas, which is what both estimate.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

SAMPLE_WINDOWS = 4
SAMPLE_WINDOW_POINTS = 256
SAMPLE_POINTS = SAMPLE_WINDOWS * SAMPLE_WINDOW_POINTS


def value_sample(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """``SAMPLE_WINDOWS`` windows of ``SAMPLE_WINDOW_POINTS``, concatenated (all of a short array).

    A sample of a sample is itself: an array of ``SAMPLE_POINTS`` comes back whole.
    """
    n = values.size
    if n <= SAMPLE_POINTS:
        return np.ascontiguousarray(values, dtype=np.float64)
    w = SAMPLE_WINDOW_POINTS
    starts = np.linspace(0, n - w, SAMPLE_WINDOWS).astype(np.intp)
    return np.concatenate([values[i : i + w] for i in starts]).astype(np.float64, copy=False)
