"""The historian's core data model: columnar point batches, quality codes, series ids.

A :class:`PointBatch` is four equal-length numpy arrays — series id ``uint32``,
time ``int64`` nanoseconds since the Unix epoch (UTC), value ``float64`` and
quality ``uint16`` — and is the only shape in which points travel from a
collector to a segment. There is never one Python object per point.

Quality is the top 16 bits of an OPC UA StatusCode, so the severity
(Good / Uncertain / Bad) *and* the sub-code (e.g. ``BadSensorFailure``) survive
storage; the low 16 bits of a StatusCode (info bits, overflow) are not kept.

>>> import numpy as np
>>> b = PointBatch.from_arrays([1, 1, 2], [20, 10, 10], [1.5, 1.0, 7.0])
>>> len(b), b.is_sorted
(3, False)
>>> s = b.sorted()
>>> s.series.tolist(), s.ts.tolist(), s.is_sorted
([1, 1, 2], [10, 20, 10], True)
>>> quality_from_status_code(0x808C0000) == Quality.BAD_SENSOR_FAILURE
True
>>> codes = [Quality.GOOD, Quality.UNCERTAIN_LAST_USABLE, Quality.BAD]
>>> severity_of(np.array(codes, np.uint16)).tolist()
[0, 1, 2]
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from historian.errors import BatchValidationError, TimestampOutOfWindowError, UnknownSeriesError

SERIES_DTYPE = np.dtype(np.uint32)
TIME_DTYPE = np.dtype(np.int64)
VALUE_DTYPE = np.dtype(np.float64)
QUALITY_DTYPE = np.dtype(np.uint16)

SeriesArray = NDArray[np.uint32]
TimeArray = NDArray[np.int64]
ValueArray = NDArray[np.float64]
QualityArray = NDArray[np.uint16]

NS_PER_SECOND = 1_000_000_000


class Quality(enum.IntEnum):
    """Quality codes: the high 16 bits of the OPC UA StatusCode (Part 4, 7.39).

    Bits 15-14 are the severity (00 Good, 01 Uncertain, 10 Bad); bits 13-0 the
    sub-code. Any 16-bit value is storable; these names are the common ones.
    """

    GOOD = 0x0000
    GOOD_CLAMPED = 0x0030
    GOOD_LOCAL_OVERRIDE = 0x0096
    UNCERTAIN = 0x4000
    UNCERTAIN_LAST_USABLE = 0x4090
    UNCERTAIN_SENSOR_NOT_ACCURATE = 0x4093
    UNCERTAIN_EU_EXCEEDED = 0x4094
    UNCERTAIN_SUB_NORMAL = 0x4095
    BAD = 0x8000
    BAD_COMMUNICATION_ERROR = 0x8005
    BAD_NO_DATA = 0x809B
    BAD_CONFIGURATION_ERROR = 0x8089
    BAD_NOT_CONNECTED = 0x808A
    BAD_DEVICE_FAILURE = 0x808B
    BAD_SENSOR_FAILURE = 0x808C
    BAD_OUT_OF_SERVICE = 0x808D


class Severity(enum.IntEnum):
    GOOD = 0
    UNCERTAIN = 1
    BAD = 2


def quality_from_status_code(status_code: int) -> int:
    """OPC UA StatusCode (uint32) -> stored quality (uint16); keeps severity and sub-code."""
    return (int(status_code) >> 16) & 0xFFFF


def status_code_from_quality(quality: int) -> int:
    """Stored quality -> OPC UA StatusCode with the info bits cleared."""
    return (int(quality) & 0xFFFF) << 16


def severity_of(quality: QualityArray) -> NDArray[np.uint8]:
    """Vectorised severity: 0 Good, 1 Uncertain, 2 Bad (the reserved 11 counts as Bad)."""
    sev = (np.asarray(quality, dtype=QUALITY_DTYPE) >> 14).astype(np.uint8)
    return np.minimum(sev, np.uint8(2))


class NanPolicy(enum.Enum):
    """What a NaN value means when a batch is validated."""

    REJECT = "reject"
    """Any NaN rejects the whole batch."""
    ALLOW = "allow"
    """NaN is stored as-is (bit-exact, payload included)."""
    ALLOW_IF_BAD = "allow_if_bad"
    """NaN is allowed only on points whose quality is Bad (the usual OPC UA convention)."""


@dataclass(frozen=True, slots=True)
class PointBatch:
    """Four equal-length columns; ``is_sorted`` promises order by (series, ts).

    Construct with :meth:`from_arrays`, which coerces dtypes and checks shapes.
    The arrays are not copied unless a dtype conversion forces it; treat a batch
    as immutable once built.
    """

    series: SeriesArray
    ts: TimeArray
    values: ValueArray
    quality: QualityArray
    is_sorted: bool = False

    @classmethod
    def from_arrays(
        cls,
        series: ArrayLike,
        ts: ArrayLike,
        values: ArrayLike,
        quality: ArrayLike | None = None,
        *,
        is_sorted: bool = False,
    ) -> PointBatch:
        s = _column(series, SERIES_DTYPE, "series")
        t = _column(ts, TIME_DTYPE, "ts")
        v = _column(values, VALUE_DTYPE, "values")
        q = (
            np.zeros(len(v), dtype=QUALITY_DTYPE)
            if quality is None
            else _column(quality, QUALITY_DTYPE, "quality")
        )
        lengths = {"series": len(s), "ts": len(t), "values": len(v), "quality": len(q)}
        if len(set(lengths.values())) != 1:
            raise BatchValidationError(
                f"column lengths differ: {lengths}; every column needs one entry per point"
            )
        return cls(s, t, v, q, is_sorted)

    @classmethod
    def empty(cls) -> PointBatch:
        return cls.from_arrays([], [], [], [], is_sorted=True)

    @classmethod
    def concat(cls, batches: Sequence[PointBatch]) -> PointBatch:
        if not batches:
            return cls.empty()
        if len(batches) == 1:
            return batches[0]
        return cls(
            np.concatenate([b.series for b in batches]),
            np.concatenate([b.ts for b in batches]),
            np.concatenate([b.values for b in batches]),
            np.concatenate([b.quality for b in batches]),
            False,
        )

    def __len__(self) -> int:
        return len(self.ts)

    @property
    def nbytes(self) -> int:
        return int(self.series.nbytes + self.ts.nbytes + self.values.nbytes + self.quality.nbytes)

    def sorted(self) -> PointBatch:
        """Stable sort by (series, ts); equal keys keep arrival order (last write wins)."""
        if self.is_sorted:
            return self
        order = np.lexsort((self.ts, self.series))
        return PointBatch(
            self.series[order], self.ts[order], self.values[order], self.quality[order], True
        )

    def check_sorted(self) -> bool:
        """True when the data really is ordered by (series, ts), whatever the flag says."""
        if len(self) < 2:
            return True
        ds = np.diff(self.series.astype(np.int64))
        dt = np.diff(self.ts)
        return bool(np.all((ds > 0) | ((ds == 0) & (dt >= 0))))

    def take(self, index: NDArray[Any]) -> PointBatch:
        return PointBatch(
            self.series[index], self.ts[index], self.values[index], self.quality[index], False
        )

    def validate(
        self,
        *,
        nan_policy: NanPolicy = NanPolicy.ALLOW,
        known_series: SeriesIndex | None = None,
        min_ts: int | None = None,
        max_ts: int | None = None,
    ) -> None:
        """Raise a specific :class:`BatchValidationError` naming the first offending point.

        Checks are whole-batch: a batch either passes completely or is refused.
        """
        if self.is_sorted and not self.check_sorted():
            raise BatchValidationError(
                "batch is flagged is_sorted=True but is not ordered by (series, ts); "
                "build it with is_sorted=False or call .sorted()"
            )
        if nan_policy is not NanPolicy.ALLOW:
            nan = np.isnan(self.values)
            if nan_policy is NanPolicy.ALLOW_IF_BAD:
                nan &= severity_of(self.quality) != Severity.BAD
            if nan.any():
                i = int(np.argmax(nan))
                raise BatchValidationError(
                    f"NaN value at index {i} (series {self.series[i]}, ts {self.ts[i]}) is not "
                    f"allowed under NaN policy {nan_policy.value!r}; mark the point Bad or drop it"
                )
        if known_series is not None:
            unknown = ~known_series.contains(self.series)
            if unknown.any():
                i = int(np.argmax(unknown))
                raise UnknownSeriesError(
                    f"unknown series id {int(self.series[i])} at index {i}; "
                    "add the tag to the catalogue before writing it"
                )
        if len(self) and (min_ts is not None or max_ts is not None):
            lo = int(self.ts.min())
            hi = int(self.ts.max())
            if min_ts is not None and lo < min_ts:
                raise TimestampOutOfWindowError(
                    f"timestamp {lo} ns is older than the accepted window start {min_ts} ns"
                )
            if max_ts is not None and hi > max_ts:
                raise TimestampOutOfWindowError(
                    f"timestamp {hi} ns is newer than the accepted window end {max_ts} ns"
                )


@dataclass(frozen=True, slots=True)
class Point:
    """One stored point: time (ns since the epoch, UTC), value and 16-bit quality."""

    ts: int
    value: float
    quality: int


@dataclass(frozen=True, slots=True)
class SeriesColumns:
    """One series' points over a range, as columns: what every historian read returns.

    ``ts`` int64 ns ascending with one point per timestamp (the last written),
    ``values`` float64 and ``quality`` uint16 of the same length. ``name`` is
    the tag path when the caller knows it.

    >>> import numpy as np
    >>> c = SeriesColumns(7, np.array([1, 2]), np.array([0.5, 1.5]), np.zeros(2, np.uint16))
    >>> len(c), c.points()[1]
    (2, Point(ts=2, value=1.5, quality=0))
    """

    series: int
    ts: TimeArray
    values: ValueArray
    quality: QualityArray
    name: str | None = None

    @classmethod
    def empty(cls, series: int, name: str | None = None) -> SeriesColumns:
        return cls(
            series,
            np.empty(0, TIME_DTYPE),
            np.empty(0, VALUE_DTYPE),
            np.empty(0, QUALITY_DTYPE),
            name,
        )

    def __len__(self) -> int:
        return len(self.ts)

    @property
    def columns(self) -> tuple[TimeArray, ValueArray, QualityArray]:
        """(ts, values, quality), the shape ``Historian.read`` returns."""
        return self.ts, self.values, self.quality

    def points(self) -> list[Point]:
        """One :class:`Point` per row: for display and tests, never for hot paths."""
        rows = zip(self.ts.tolist(), self.values.tolist(), self.quality.tolist(), strict=True)
        return [Point(int(t), float(v), int(q)) for t, v, q in rows]


class SeriesIndex:
    """Tag path <-> series id, as assigned by the tag catalogue.

    Ids are explicit in the catalogue (never re-numbered when tags are added),
    so a series id written today means the same tag after a catalogue edit.
    Membership tests are one numpy gather (a bitmap indexed by id).
    """

    __slots__ = ("_by_path", "_known", "_path_by_id")

    def __init__(self, paths_by_id: Mapping[int, str]) -> None:
        self._path_by_id = dict(paths_by_id)
        self._by_path: dict[str, int] = {}
        for sid, path in self._path_by_id.items():
            if not 0 <= sid < 2**32:
                raise ValueError(f"series id {sid} for {path!r} does not fit in uint32")
            if path in self._by_path:
                raise ValueError(
                    f"tag path {path!r} has two series ids: {self._by_path[path]} and {sid}"
                )
            self._by_path[path] = sid
        top = max(self._path_by_id, default=-1)
        self._known = np.zeros(top + 2, dtype=bool)
        if self._path_by_id:
            self._known[np.fromiter(self._path_by_id, dtype=np.int64)] = True

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[int, str]]) -> SeriesIndex:
        return cls(dict(pairs))

    def __len__(self) -> int:
        return len(self._path_by_id)

    def id_of(self, path: str) -> int:
        try:
            return self._by_path[path]
        except KeyError:
            raise UnknownSeriesError(f"unknown tag path {path!r}") from None

    def path_of(self, series_id: int) -> str:
        try:
            return self._path_by_id[int(series_id)]
        except KeyError:
            raise UnknownSeriesError(f"unknown series id {series_id}") from None

    def ids(self) -> SeriesArray:
        return np.array(sorted(self._path_by_id), dtype=SERIES_DTYPE)

    def contains(self, series: SeriesArray) -> NDArray[np.bool_]:
        s = np.asarray(series, dtype=np.int64)
        inside = s < len(self._known) - 1
        out = np.zeros(len(s), dtype=bool)
        out[inside] = self._known[s[inside]]
        return out


def _column(data: ArrayLike, dtype: np.dtype[Any], name: str) -> NDArray[Any]:
    arr = np.asarray(data)
    if arr.ndim != 1:
        raise BatchValidationError(f"column {name!r} must be 1-D, got shape {arr.shape}")
    if arr.dtype == dtype:
        return arr
    if dtype.kind in "iu" and arr.size:
        if arr.dtype.kind == "f" and (
            not np.all(np.isfinite(arr)) or not np.all(arr == np.floor(arr))
        ):
            raise BatchValidationError(
                f"column {name!r} must hold integers; got non-integer or non-finite floats"
            )
        info = np.iinfo(dtype)
        if arr.dtype.kind in "iuf" and (arr.min() < info.min or arr.max() > info.max):
            raise BatchValidationError(
                f"column {name!r} has values outside the {dtype} range [{info.min}, {info.max}]"
            )
    try:
        return np.ascontiguousarray(arr, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise BatchValidationError(
            f"column {name!r} cannot be converted to {dtype}: {exc}"
        ) from exc
