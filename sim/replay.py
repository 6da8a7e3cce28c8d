"""Replay a recorded series through the virtual servers at N x speed.

A recording is CSV or Parquet with a time column (``timestamp``, ``time`` or
``ts``: ISO text, or integer ns since the epoch) and either

- wide: one numeric column per series (``timestamp,value`` as in the NAB files), or
- long: columns ``path`` (or ``tag``) and ``value`` (optional ``quality``).

Series map to catalogue tags by path; a recording whose columns are not tag
paths gets a catalogue made for it (:func:`catalogue_for`), one tag per column,
ranged to the data. Each tick of ``tick_s`` (default: the smallest step in the
recording) publishes the records whose time falls in it; timestamps are kept as
recorded or re-based so the first record is "now".

What the servers carry (``docs/replay.md``): a ``float64`` tag's recorded value,
bit for bit, over OPC UA (Double); Modbus registers hold what their encoding can
(float32: 24-bit mantissa; int16_scaled: ``scale``). Timestamps are whole
microseconds, the resolution a source timestamp survives between asyncua servers
and clients (a Python datetime): finer ones are truncated once, here, so what the
replay emits is what reaches the wire. A re-based replay starts on a whole
microsecond. Rows without a value are skipped unless their quality is Bad (a Bad
reading is replayed as such: Bad status, no value).

>>> import io
>>> text = "timestamp,value\\n2020-01-01 00:00:00,1.5\\n2020-01-01 00:05:00,2.5\\n"
>>> rec = Recording.from_csv(io.StringIO(text))
>>> rec.columns, rec.ts.tolist()[1] - rec.ts.tolist()[0]
(['value'], 300000000000)
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from numpy.typing import NDArray

from historian.model import NS_PER_SECOND as NS
from historian.model import PointBatch
from sim.emitted import EmittedLog
from sim.errors import NotWritableError, SimError, UnknownTagError
from sim.servers.registers import Representation
from sim.tags import Catalogue, ModbusSpec, Tag
from sim.twin import TickResult

_TIME_COLUMNS = ("timestamp", "time", "ts")
US = 1_000  # ns per microsecond: the timestamp resolution a replay serves


class RecordingError(SimError, ValueError):
    """A recording file cannot be read or does not fit the catalogue."""


@dataclass(frozen=True)
class Recording:
    """Columnar points: one row per (time, series) with the series as a column name."""

    ts: NDArray[np.int64]
    column: NDArray[np.int64]  # index into columns
    values: NDArray[np.float64]
    quality: NDArray[np.uint16]
    columns: list[str]

    @classmethod
    def from_table(cls, table: pa.Table) -> Recording:
        names = table.column_names
        tcol = next((c for c in _TIME_COLUMNS if c in names), None)
        if tcol is None:
            raise RecordingError(f"no time column; expected one of {_TIME_COLUMNS}, got {names}")
        ts = _to_ns(table[tcol])
        long_key = "path" if "path" in names else ("tag" if "tag" in names else None)
        if long_key is not None:
            if "value" not in names:
                raise RecordingError("long-format recording needs a 'value' column")
            keys = [str(k) for k in table[long_key].to_pylist()]
            columns = sorted(set(keys))
            pos = {k: i for i, k in enumerate(columns)}
            col = np.array([pos[k] for k in keys], dtype=np.int64)
            values = table["value"].cast(pa.float64()).to_numpy(zero_copy_only=False)
            q = (
                table["quality"].cast(pa.uint16()).to_numpy(zero_copy_only=False)
                if "quality" in names
                else np.zeros(len(values), np.uint16)
            )
            rec = cls(ts, col, values, q, columns)
        else:
            columns = [c for c in names if c != tcol]
            if not columns:
                raise RecordingError("recording has a time column but no value column")
            n = len(ts)
            vals = [table[c].cast(pa.float64()).to_numpy(zero_copy_only=False) for c in columns]
            rec = cls(
                np.tile(ts, len(columns)),
                np.repeat(np.arange(len(columns), dtype=np.int64), n),
                np.concatenate(vals),
                np.zeros(n * len(columns), np.uint16),
                columns,
            )
        order = np.lexsort((rec.column, rec.ts))
        keep = ~np.isnan(rec.values[order]) | ((rec.quality[order] >> 14) >= 2)
        o = order[keep]
        return cls(rec.ts[o], rec.column[o], rec.values[o], rec.quality[o], rec.columns)

    @classmethod
    def from_csv(cls, src: str | Path | IO[str]) -> Recording:
        data = src.read().encode() if hasattr(src, "read") else Path(src).read_bytes()
        try:
            return cls.from_table(pacsv.read_csv(pa.BufferReader(data)))
        except pa.ArrowInvalid as exc:
            raise RecordingError(f"cannot parse CSV recording: {exc}") from exc

    @classmethod
    def from_file(cls, path: str | Path, keep: Callable[[str], bool] | None = None) -> Recording:
        """``keep`` (a series name -> bool) reads only those series of a Parquet recording:
        a server process of 2,000 tags reads its slice of a 10,000-series file."""
        p = Path(path)
        if p.suffix.lower() not in (".parquet", ".pq"):
            return cls.from_csv(p)
        if keep is None:
            return cls.from_table(pq.read_table(p))
        names = pq.read_schema(p).names
        key = "path" if "path" in names else ("tag" if "tag" in names else None)
        if key is None:  # wide: one column per series
            wanted = [c for c in names if c in _TIME_COLUMNS or keep(c)]
            if len(wanted) > sum(c in _TIME_COLUMNS for c in names):
                return cls.from_table(pq.read_table(p, columns=wanted))
            return cls.from_table(pq.read_table(p))  # nothing matches: say so, with every name
        table = pq.read_table(p)
        series = pc.unique(table[key]).to_pylist()
        chosen = [s for s in series if keep(str(s))]
        if chosen:
            table = table.filter(pc.is_in(table[key], value_set=pa.array(chosen)))
        return cls.from_table(table)

    @property
    def min_step_ns(self) -> int:
        steps = np.diff(np.unique(self.ts))
        return int(steps.min()) if len(steps) else NS


def _to_ns(col: pa.ChunkedArray) -> NDArray[np.int64]:
    if pa.types.is_integer(col.type):
        return np.asarray(col.to_numpy(), dtype=np.int64)
    if pa.types.is_timestamp(col.type):
        return np.asarray(pc.cast(col, pa.timestamp("ns")).cast(pa.int64()).to_numpy(), np.int64)
    text = pc.cast(col, pa.string())
    try:
        parsed = pc.strptime(text, format="%Y-%m-%d %H:%M:%S", unit="ns", error_is_null=False)
    except pa.ArrowInvalid:
        parsed = pc.cast(text, pa.timestamp("ns"))
    return np.asarray(parsed.cast(pa.int64()).to_numpy(), dtype=np.int64)


def _token(s: str) -> str:
    t = re.sub(r"[^A-Za-z0-9_-]+", "_", s).strip("_")
    return t or "series"


def catalogue_for(rec: Recording, name: str, unit: str = "count") -> Catalogue:
    """One read-only float64 tag per recorded series, ranged to the data (+10 %).

    float64, so OPC UA serves the recorded values exactly; the Modbus registers
    (float32) hold them to float32 resolution."""
    tags = []
    for k, col in enumerate(rec.columns):
        v = rec.values[rec.column == k]
        v = v[np.isfinite(v)]
        lo, hi = (float(v.min()), float(v.max())) if len(v) else (0.0, 1.0)
        pad = max((hi - lo) * 0.1, 1.0)
        tags.append(
            Tag(
                id=k + 1,
                path=f"replay.recording.{_token(name)}.line.cell.series.{_token(col)}",
                legacy_name=f"REPLAY:{k + 1}",
                unit=unit,
                low=round(lo - pad, 3),
                high=round(hi + pad, 3),
                dtype="float64",
                modbus=ModbusSpec(table="input", unit_id=1, address=2 * k, encoding="float32"),
                sample_ms=max(1, rec.min_step_ns // 1_000_000),
            )
        )
    return Catalogue(tuple(tags), name=f"replay-{_token(name)}", meta={"replay": name})


class ReplaySource:
    """A tick source (like :class:`sim.twin.PlantTwin`) that plays a recording."""

    def __init__(
        self,
        rec: Recording,
        catalogue: Catalogue,
        *,
        rebase: bool = False,
        tick_s: float | None = None,
        rebase_to_ns: int | None = None,
        emitted_path: str | Path | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.tags = catalogue.tags
        index = {t.path: i for i, t in enumerate(self.tags)}
        by_token = {t.sensor_name: i for i, t in enumerate(self.tags)}
        mapping = []
        for col in rec.columns:
            i = index.get(col, by_token.get(_token(col)))
            mapping.append(-1 if i is None else i)
        if all(m < 0 for m in mapping):
            raise RecordingError(
                f"no recorded series matches a catalogue tag; columns {rec.columns[:5]}"
            )
        tag_of = np.array(mapping, dtype=np.int64)[rec.column]
        keep = tag_of >= 0
        recorded_ts = rec.ts[keep]
        self.ts = recorded_ts // US * US  # what a source timestamp carries (module docstring)
        self.truncated_timestamps = int(np.count_nonzero(self.ts != recorded_ts))
        self.tag = tag_of[keep]
        raw = rec.values[keep]
        # float64 tags keep the recording's bits (OPC UA Double); others carry what
        # their encoding holds, as the twin's tags do
        exact = np.array([t.dtype == "float64" for t in self.tags], dtype=bool)[self.tag]
        self.values = np.where(exact, raw, Representation(self.tags).apply_to(raw, self.tag))
        self.quality = rec.quality[keep]
        self.tick_s = tick_s if tick_s else rec.min_step_ns / NS
        self.tick_ns = round(self.tick_s * NS)
        first = int(self.ts[0]) if len(self.ts) else 0
        self.shift_ns = 0
        if rebase:
            target = rebase_to_ns if rebase_to_ns is not None else time.time_ns()
            self.shift_ns = target // US * US - first
        self.start_ns = first + self.shift_ns - self.tick_ns  # tick 1 ends at the first record
        self.series = np.array([t.id for t in self.tags], dtype=np.uint32)
        n = len(self.tags)
        self._held = np.array([t.low for t in self.tags], dtype=np.float64)
        self._held_q = np.zeros(n, np.uint16)
        self._held_ts = np.zeros(n, np.int64)
        self._cursor = 0
        self.tick = 0
        self.emitted = EmittedLog(emitted_path)

    @classmethod
    def from_file(
        cls, path: str | Path, catalogue: Catalogue | None = None, **kw: object
    ) -> ReplaySource:
        if catalogue is None:
            rec = Recording.from_file(path)
            cat = catalogue_for(rec, Path(path).stem)
        else:
            paths, tokens = (
                {t.path for t in catalogue.tags},
                {t.sensor_name for t in catalogue.tags},
            )
            rec = Recording.from_file(path, lambda c: c in paths or _token(c) in tokens)
            cat = catalogue
        return cls(rec, cat, **kw)  # type: ignore[arg-type]

    @property
    def finished(self) -> bool:
        return self._cursor >= len(self.ts)

    def progress(self) -> dict[str, int]:
        """Where the replay is: sim time reached, the recording's span (as served), records."""
        first = int(self.ts[0]) + self.shift_ns if len(self.ts) else 0
        last = int(self.ts[-1]) + self.shift_ns if len(self.ts) else 0
        sim = self.start_ns + self.tick * self.tick_ns
        return {"sim_ns": min(sim, last), "first_ns": first, "last_ns": last,
                "records": self._cursor, "total": len(self.ts)}  # fmt: skip

    def step(self) -> TickResult:
        self.tick += 1
        end = self.start_ns + self.tick * self.tick_ns - self.shift_ns  # in recording time
        stop = int(np.searchsorted(self.ts, end, side="right"))
        sl = slice(self._cursor, stop)
        self._cursor = stop
        emit = np.zeros(len(self.tags), dtype=bool)
        tag = self.tag[sl]
        # last record per tag in this tick wins for the servers' current value
        self._held[tag] = self.values[sl]
        self._held_q[tag] = self.quality[sl]
        self._held_ts[tag] = self.ts[sl] + self.shift_ns
        emit[tag] = True
        self.emitted.append(
            PointBatch(self.series[tag], self.ts[sl] + self.shift_ns, self.values[sl],
                       self.quality[sl], False)
        )  # fmt: skip
        return TickResult(
            self.tick, end + self.shift_ns, self._held.copy(), self._held_q.copy(),
            self._held_ts.copy(), emit, self.series, 0, (),
        )  # fmt: skip

    def write(self, key: str | int, value: float) -> int:
        raise NotWritableError("a replay is read-only: setpoints cannot be written")

    def set_pump(self, well: int | str, running: bool) -> int:
        raise UnknownTagError("a replay has no pumps to start or stop")

    def close(self) -> None:
        self.emitted.close()


def fetch_from_historian(
    url: str, pattern: str, start: str, end: str, dest: Path, *, page: int = 500_000
) -> Path:
    """Save the recorded values of the historian's tags matching ``pattern`` in
    ``[start, end)`` as a long Parquet recording (``timestamp`` ns, ``path``,
    ``value``, ``quality``: timestamps, values and qualities exactly as stored).

    ``url`` is a running historian's HTTP API (``twinbench historian serve --http``,
    ``docs/api.md``): tags from ``/api/v1/tags``, values as Arrow pages of
    ``/recorded``. ``start``/``end`` are the API's times (ISO 8601, ``*-1d``...).
    """
    import json
    import urllib.error
    import urllib.parse
    import urllib.request

    def get(path: str, **query: object) -> tuple[bytes, str | None]:
        q = urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        req = urllib.request.Request(f"{url.rstrip('/')}{path}?{q}")
        if path.endswith("/recorded"):
            req.add_header("Accept", "application/vnd.apache.arrow.stream")
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return r.read(), r.headers.get("X-Next-Page-Token")
        except urllib.error.HTTPError as exc:
            raise RecordingError(f"historian {url}: {exc.code} {exc.read()[:300]!r}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise RecordingError(f"historian {url} is not reachable: {exc}") from None

    tags = [t["name"] for t in json.loads(get("/api/v1/tags", pattern=pattern)[0])["items"]]
    if not tags:
        raise RecordingError(f"no historian tag matches {pattern!r}")
    parts = []
    for name in tags:
        token: str | None = None
        while True:
            body, token = get(
                f"/api/v1/tags/{urllib.parse.quote(name)}/recorded",
                start=start, end=end, max_count=page, page_token=token,
            )  # fmt: skip
            t = pa.ipc.open_stream(body).read_all()
            parts.append(
                pa.table({
                    "timestamp": pc.cast(t["timestamp"], pa.timestamp("ns")).cast(pa.int64()),
                    "path": pa.array([name] * t.num_rows, pa.string()),
                    "value": t["value"],
                    "quality": t["quality"],
                })
            )  # fmt: skip
            if not token:
                break
    table = pa.concat_tables(parts).sort_by([("timestamp", "ascending"), ("path", "ascending")])
    if table.num_rows == 0:
        raise RecordingError(f"the historian holds no values of {pattern!r} in {start} .. {end}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, dest)
    return dest
