"""End-to-end accounting: every generated point tracked from production to read-back.

The :class:`Ledger` keeps every produced point columnar (series, ts, value,
and per batch: phase and whether the publisher's ack arrived). At the end,
:meth:`Ledger.reconcile` compares it with what the historian returns and
counts, per phase and in total:

- ``produced``, ``acknowledged``, ``stored``;
- ``lost``: acknowledged and missing (the durability promise broken);
- ``unacked_missing``: never acknowledged and missing (allowed, but reported);
- ``duplicated``: extra stored copies of one (series, ts);
- ``reordered``: read-back positions whose ts is lower than the one before it
  in the same series (a read must come back sorted);
- ``changed``: points whose stored value differs bit-for-bit from the
  produced one (NaN matches any NaN; -0.0 does not match 0.0);
- ``unexpected`` (total only): stored points the run never produced.

Matching is vectorised: (series, ts) is packed into one int64 key when it fits
(dense series rank in the high bits, ts offset in the low bits), else ranked
with one ``np.lexsort``; then one ``argsort`` of the produced keys and one
``searchsorted`` of the read-back keys. 10 M points reconcile in seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from historian.model import PointBatch

__all__ = ["AccountingReport", "Counts", "Ledger", "LedgerError", "read_back"]


class LedgerError(RuntimeError):
    """The harness used the ledger wrongly (same batch twice, ack for an unknown batch, ...)."""


@dataclass
class Counts:
    produced: int = 0
    acknowledged: int = 0
    stored: int = 0
    lost: int = 0
    unacked_missing: int = 0
    duplicated: int = 0
    reordered: int = 0
    changed: int = 0


@dataclass
class AccountingReport:
    total: Counts
    phases: dict[str, Counts]
    unexpected: int
    lost_examples: list[tuple[int, int]] = field(default_factory=list)
    changed_examples: list[tuple[int, int, float, float]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """No acked loss, no duplicates, no reordering, no changed or unexpected points."""
        t = self.total
        return not (t.lost or t.duplicated or t.reordered or t.changed or self.unexpected)

    def to_json(self) -> dict[str, Any]:
        return {
            "total": asdict(self.total),
            "phases": {name: asdict(c) for name, c in self.phases.items()},
            "unexpected": self.unexpected,
            "lost_examples": [list(x) for x in self.lost_examples],
            "changed_examples": [list(x) for x in self.changed_examples],
        }


class HistorianReader(Protocol):
    def read(self, series: int, start_ns: int, end_ns: int) -> tuple[Any, Any, Any]: ...


def read_back(
    db: HistorianReader, series_ids: Iterable[int], start_ns: int, end_ns: int
) -> dict[int, tuple[NDArray[np.int64], NDArray[np.float64]]]:
    """Per series (ts, values) from ``db.read(series, start_ns, end_ns)``, as reconcile wants."""
    out = {}
    for sid in series_ids:
        ts, values, _quality = db.read(int(sid), start_ns, end_ns)
        out[int(sid)] = (np.asarray(ts, np.int64), np.asarray(values, np.float64))
    return out


class Ledger:
    """Columnar record of produced points; ack marks by batch id; reconciliation at the end."""

    def __init__(
        self,
        *,
        expected_values: Callable[[NDArray[np.uint32], NDArray[np.int64]], NDArray[np.float64]]
        | None = None,
    ) -> None:
        """With ``expected_values`` (e.g. ``SyntheticSource.expected_values``) the ledger keeps
        only (series, ts), 12 instead of 20 bytes a point, and recomputes values at the end."""
        self._expected_values = expected_values
        self._series: list[NDArray[np.uint32]] = []
        self._ts: list[NDArray[np.int64]] = []
        self._values: list[NDArray[np.float64]] = []
        self._batch_row: dict[Hashable, int] = {}
        self._batch_phase: list[int] = []
        self._batch_acked: list[bool] = []
        self._phase_index: dict[str, int] = {}
        self.produced = 0

    def record(self, batch_id: Hashable, batch: PointBatch, phase: str) -> None:
        """Note a batch as produced (call before sending it, so an early ack finds it)."""
        if batch_id in self._batch_row:
            raise LedgerError(f"batch {batch_id!r} recorded twice; batch ids must be unique")
        self._batch_row[batch_id] = len(self._batch_phase)
        self._batch_phase.append(self._phase_index.setdefault(phase, len(self._phase_index)))
        self._batch_acked.append(False)
        self._series.append(batch.series)
        self._ts.append(batch.ts)
        if self._expected_values is None:
            self._values.append(batch.values)
        self.produced += len(batch)

    def mark_acked(self, batch_id: Hashable) -> None:
        try:
            self._batch_acked[self._batch_row[batch_id]] = True
        except KeyError:
            raise LedgerError(
                f"ack for batch {batch_id!r}, which was never recorded; record before sending"
            ) from None

    @property
    def acked_points(self) -> int:
        return sum(len(s) for s, a in zip(self._series, self._batch_acked, strict=True) if a)

    def reconcile(
        self,
        stored: Mapping[int, tuple[ArrayLike, ArrayLike]] | PointBatch,
        *,
        force_lexsort: bool = False,
    ) -> AccountingReport:
        """Compare the ledger with the read-back: per series ``(ts, values)`` in returned order,
        or one batch in returned order (series segments contiguous)."""
        es, et, ev, e_phase, e_acked = self._expected()
        rs, rt, rv = _read_columns(stored)
        # reordering is judged in the order the historian returned the points
        same = rs[1:] == rs[:-1]
        backwards = np.concatenate([[False], same & (rt[1:] < rt[:-1])])

        ekey, rkey = _keys(es, et, rs, rt, force_lexsort)
        eorder = np.argsort(ekey, kind="stable")
        ek_sorted = ekey[eorder]
        if len(ek_sorted) > 1 and np.any(ek_sorted[1:] == ek_sorted[:-1]):
            raise LedgerError("the ledger holds one (series, ts) twice: the generator is broken")
        pos = np.searchsorted(ek_sorted, rkey)
        pos_c = np.minimum(pos, max(len(ek_sorted) - 1, 0))
        match = (pos < len(ek_sorted)) & (ek_sorted[pos_c] == rkey) if len(ek_sorted) else pos < 0
        e_idx = eorder[pos_c[match]]

        n = len(es)
        copies = np.bincount(e_idx, minlength=n)
        is_stored = copies > 0
        extra = np.maximum(copies - 1, 0)
        rv_m, ev_m = rv[match], ev[e_idx]
        differ = (rv_m.view(np.int64) != ev_m.view(np.int64)) & ~(np.isnan(rv_m) & np.isnan(ev_m))
        changed = np.bincount(e_idx[differ], minlength=n) > 0
        reordered_e = np.bincount(e_idx[backwards[match]], minlength=n)

        names = list(self._phase_index)
        k = len(names)

        def per_phase(weights: NDArray[Any]) -> NDArray[np.int64]:
            w = np.bincount(e_phase, weights=weights.astype(np.float64), minlength=k)
            return np.rint(w).astype(np.int64)

        cols = {
            "produced": per_phase(np.ones(n)),
            "acknowledged": per_phase(e_acked),
            "stored": per_phase(is_stored),
            "lost": per_phase(e_acked & ~is_stored),
            "unacked_missing": per_phase(~e_acked & ~is_stored),
            "duplicated": per_phase(extra),
            "reordered": per_phase(reordered_e),
            "changed": per_phase(changed),
        }
        phases = {
            name: Counts(**{c: int(v[i]) for c, v in cols.items()}) for i, name in enumerate(names)
        }
        total = Counts(**{c: int(v.sum()) for c, v in cols.items()})
        total.reordered += int(
            np.count_nonzero(backwards[~match])
        )  # unexpected points out of order
        lost = np.flatnonzero(e_acked & ~is_stored)[:10]
        ch = np.flatnonzero(differ)[:10]
        return AccountingReport(
            total,
            phases,
            unexpected=int(np.count_nonzero(~match)),
            lost_examples=[(int(es[i]), int(et[i])) for i in lost],
            changed_examples=[
                (int(es[e_idx[i]]), int(et[e_idx[i]]), float(ev_m[i]), float(rv_m[i])) for i in ch
            ],
        )

    def _expected(
        self,
    ) -> tuple[
        NDArray[np.uint32],
        NDArray[np.int64],
        NDArray[np.float64],
        NDArray[np.intp],
        NDArray[np.bool_],
    ]:
        sizes = np.fromiter((len(s) for s in self._series), dtype=np.int64, count=len(self._series))
        if not self._series:
            return (
                np.zeros(0, np.uint32),
                np.zeros(0, np.int64),
                np.zeros(0, np.float64),
                np.zeros(0, np.intp),
                np.zeros(0, bool),
            )
        phase = np.repeat(np.asarray(self._batch_phase, np.intp), sizes)
        acked = np.repeat(np.asarray(self._batch_acked, bool), sizes)
        series = np.concatenate(self._series).astype(np.uint32, copy=False)
        ts = np.concatenate(self._ts).astype(np.int64, copy=False)
        if self._expected_values is None:
            values = np.concatenate(self._values).astype(np.float64, copy=False)
        else:
            values = np.asarray(self._expected_values(series, ts), dtype=np.float64)
        return series, ts, values, phase, acked


def _read_columns(
    stored: Mapping[int, tuple[ArrayLike, ArrayLike]] | PointBatch,
) -> tuple[NDArray[np.uint32], NDArray[np.int64], NDArray[np.float64]]:
    if isinstance(stored, PointBatch):
        return stored.series, stored.ts, stored.values
    series, ts, values = [], [], []
    for sid, (t, v) in stored.items():
        t_arr = np.asarray(t, np.int64)
        v_arr = np.asarray(v, np.float64)
        if len(t_arr) != len(v_arr):
            raise ValueError(f"series {sid}: {len(t_arr)} timestamps but {len(v_arr)} values")
        series.append(np.full(len(t_arr), sid, np.uint32))
        ts.append(t_arr)
        values.append(v_arr)
    if not series:
        return np.zeros(0, np.uint32), np.zeros(0, np.int64), np.zeros(0, np.float64)
    return np.concatenate(series), np.concatenate(ts), np.concatenate(values)


def _keys(
    es: NDArray[np.uint32],
    et: NDArray[np.int64],
    rs: NDArray[np.uint32],
    rt: NDArray[np.int64],
    force_lexsort: bool,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """One int64 per (series, ts), equal exactly when the pairs are equal."""
    s = np.concatenate([es, rs])
    t = np.concatenate([et, rt])
    if not len(s):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    t_lo = int(t.min())
    t_span = int(t.max()) - t_lo
    uniq = np.unique(s)
    t_bits = max(t_span.bit_length(), 1)
    s_bits = max((len(uniq) - 1).bit_length(), 1)
    if s_bits + t_bits <= 62 and not force_lexsort:
        rank = np.searchsorted(uniq, s).astype(np.int64)
        key = (rank << np.int64(t_bits)) | (t - np.int64(t_lo))
    else:
        order = np.lexsort((t, s))
        ss, tt = s[order], t[order]
        new = np.concatenate([[True], (ss[1:] != ss[:-1]) | (tt[1:] != tt[:-1])])
        key = np.empty(len(s), np.int64)
        key[order] = np.cumsum(new) - 1
    return key[: len(es)], key[len(es) :]
