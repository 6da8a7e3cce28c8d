"""Read a legacy historian into per-tag columns: PostgreSQL via ``COPY ... TO STDOUT``, or PI CSV.

Both readers return :class:`LegacyData`: every reading of the range as four
columns sorted by (tag, time) with a slice per legacy tag id (the SCADA node id
``ns=2;s=<path>`` or the PI tag name), plus the rollup rows when the legacy has
them. PostgreSQL is read with one ``COPY (SELECT ...) TO STDOUT`` in CSV, parsed
by Arrow straight into columns; there is never a Python object per reading.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from harness.legacy.scada_schema import DAILY_TABLE, HOURLY_TABLE, READINGS_TABLE
from historian.io.pi_csv import read_pi
from historian.model import severity_of

__all__ = ["LegacyData", "LegacyRollups", "LegacySeries", "read_pi_csv", "read_postgres"]

_LATEST_NS = 7_000_000_000 * 10**9  # year 2191: far enough, and a datetime can hold it
_SEVERITY_BY_TEXT = {"Good": 0, "Uncertain": 1, "Bad": 2}


@dataclass(frozen=True)
class LegacySeries:
    """One legacy tag's readings, time-ascending (duplicates kept: the diff counts them)."""

    ts: np.ndarray  # int64 ns
    values: np.ndarray  # float64
    severity: np.ndarray  # uint8: 0 Good, 1 Uncertain, 2 Bad


@dataclass(frozen=True)
class LegacyRollups:
    """One rollup table's rows of one tag: bucket start (ns), event average, readings."""

    bucket: np.ndarray
    average: np.ndarray
    readings: np.ndarray


@dataclass
class LegacyData:
    source: str  # "postgresql" | "pi-csv"
    names: list[str]
    ts: np.ndarray
    values: np.ndarray
    severity: np.ndarray
    offsets: np.ndarray  # len(names) + 1 slice bounds into the columns
    rollups: dict[str, dict[str, LegacyRollups]] = field(default_factory=dict)
    """{"hourly"|"daily": {legacy id: rows}} (PostgreSQL only)."""
    has_uncertain: bool = True
    """False for PI CSV: PI keeps no Uncertain status, the diff must not expect one."""

    def series(self, legacy_id: str) -> LegacySeries | None:
        try:
            i = self.names.index(legacy_id)
        except ValueError:
            return None
        lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
        return LegacySeries(self.ts[lo:hi], self.values[lo:hi], self.severity[lo:hi])

    @property
    def points(self) -> int:
        return len(self.ts)


def _group(
    tag_codes: np.ndarray, names: list[str], ts: np.ndarray, *cols: np.ndarray
) -> tuple[list[str], np.ndarray, list[np.ndarray]]:
    order = np.lexsort((ts, tag_codes))
    codes = tag_codes[order]
    counts = np.bincount(codes, minlength=len(names))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return names, offsets, [ts[order], *(c[order] for c in cols)]


def _copy_csv(conn: psycopg.Connection, query: str, schema: dict[str, pa.DataType]) -> pa.Table:
    buf = io.BytesIO()
    with conn.cursor() as cur, cur.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv)") as copy:
        for chunk in copy:
            buf.write(chunk)
    buf.seek(0)
    if buf.getbuffer().nbytes == 0:
        return pa.table({k: pa.array([], t) for k, t in schema.items()})
    return pacsv.read_csv(
        buf,
        read_options=pacsv.ReadOptions(column_names=list(schema)),
        convert_options=pacsv.ConvertOptions(column_types=schema, strings_can_be_null=False),
    )


def _ts(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


def read_postgres(dsn: str, start_ns: int, end_ns: int) -> LegacyData:
    """Every reading and rollup row of ``[start_ns, end_ns)`` from the SCADA database."""
    with psycopg.connect(dsn) as conn:
        lo, hi = _ts(max(start_ns, 0)).isoformat(), _ts(min(end_ns, _LATEST_NS)).isoformat()
        win = f""""timestamp" >= '{lo}' AND "timestamp" < '{hi}'"""
        table = _copy_csv(
            conn,
            f'SELECT tag_node_id, (extract(epoch FROM "timestamp") * 1000000)::int8, value, '
            f"quality FROM {READINGS_TABLE} WHERE {win}",
            {"tag": pa.string(), "us": pa.int64(), "value": pa.float64(), "quality": pa.string()},
        )
        rollups: dict[str, dict[str, LegacyRollups]] = {}
        for kind, tab in (("hourly", HOURLY_TABLE), ("daily", DAILY_TABLE)):
            bwin = win.replace('"timestamp"', "bucket")
            rt = _copy_csv(
                conn,
                f"SELECT tag_node_id, (extract(epoch FROM bucket) * 1000000)::int8, avg_value, "
                f"readings FROM {tab} WHERE {bwin}",
                {"tag": pa.string(), "us": pa.int64(), "avg": pa.float64(), "n": pa.int64()},
            )
            rollups[kind] = _rollups_by_tag(rt)
    enc = pc.dictionary_encode(table.column("tag").combine_chunks())
    names = [str(s) for s in enc.dictionary.to_pylist()]
    codes = np.asarray(enc.indices.to_numpy(zero_copy_only=False), np.int64)
    qenc = pc.dictionary_encode(table.column("quality").combine_chunks())
    qmap = np.array([_SEVERITY_BY_TEXT[q] for q in qenc.dictionary.to_pylist()], np.uint8)
    severity = qmap[np.asarray(qenc.indices.to_numpy(zero_copy_only=False), np.int64)]
    ts = np.asarray(table.column("us").to_numpy(), np.int64) * 1000
    values = np.asarray(table.column("value").to_numpy(), np.float64)
    names, offsets, (ts, values, severity) = _group(codes, names, ts, values, severity)
    return LegacyData("postgresql", names, ts, values, severity, offsets, rollups)


def _rollups_by_tag(rt: pa.Table) -> dict[str, LegacyRollups]:
    out: dict[str, LegacyRollups] = {}
    if rt.num_rows == 0:
        return out
    enc = pc.dictionary_encode(rt.column("tag").combine_chunks())
    codes = np.asarray(enc.indices.to_numpy(zero_copy_only=False), np.int64)
    bucket = np.asarray(rt.column("us").to_numpy(), np.int64) * 1000
    avg = np.asarray(rt.column("avg").to_numpy(), np.float64)
    n = np.asarray(rt.column("n").to_numpy(), np.int64)
    for i, name in enumerate(enc.dictionary.to_pylist()):
        m = codes == i
        order = np.argsort(bucket[m])
        out[str(name)] = LegacyRollups(bucket[m][order], avg[m][order], n[m][order])
    return out


def read_pi_csv(path: str, start_ns: int | None = None, end_ns: int | None = None) -> LegacyData:
    """A PI-style CSV export (``tag,timestamp,value``; digital states are Bad readings)."""
    parsed = read_pi(path)
    ts = np.asarray(parsed.ts, np.int64)
    keep = np.ones(len(ts), bool)
    if start_ns is not None:
        keep &= ts >= start_ns
    if end_ns is not None:
        keep &= ts < end_ns
    codes = np.asarray(parsed.tag, np.int64)[keep]
    sev = severity_of(np.asarray(parsed.quality)[keep])
    names, offsets, (ts, values, sev) = _group(
        codes, list(parsed.names), ts[keep], np.asarray(parsed.values)[keep], sev
    )
    return LegacyData("pi-csv", names, ts, values, sev, offsets, {}, has_uncertain=False)
