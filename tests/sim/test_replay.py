"""Replay: recorded values come out of the servers in order, with kept or re-based timestamps."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pymodbus.client import AsyncModbusTcpClient

from sim.catalogue_gen import generate_oilfield
from sim.replay import Recording, RecordingError, ReplaySource, catalogue_for
from sim.servers.node import TwinNode

# committed in the repository (reports/corpus/nab), so the test runs on every clone
NAB = Path(__file__).parents[2] / "reports/corpus/nab/machine_temperature_system_failure.csv"
CSV = "timestamp,value\n" + "".join(
    f"2014-01-01 00:{m:02d}:00,{70 + m * 0.123456789}\n" for m in range(0, 50, 5)
)


def test_wide_csv_to_source_keeps_timestamps() -> None:
    rec = Recording.from_csv(io.StringIO(CSV))
    src = ReplaySource(rec, catalogue_for(rec, "unit test"))
    assert src.tick_s == 300.0
    first = 1388534400 * 10**9  # 2014-01-01T00:00:00Z
    seen = []
    while not src.finished:
        r = src.step()
        assert r.emit.all()
        seen.append((int(r.ts[0]), float(r.values[0])))
    assert [t for t, _ in seen] == [first + k * 300 * 10**9 for k in range(10)]
    want = [70 + m * 0.123456789 for m in range(0, 50, 5)]
    assert [v for _, v in seen] == want  # float64 tags: the recorded bits (OPC UA Double)
    assert len(src.emitted.concat()) == 10


def test_timestamps_are_whole_microseconds_and_bad_rows_are_kept() -> None:
    """Sub-microsecond parts are truncated once, in the source (what asyncua's DateTime
    carries); a Bad row without a value is replayed; a value-less Good row is not."""
    table = pa.table({
        "timestamp": pa.array([10**9 + 999, 2 * 10**9 + 1_500, 3 * 10**9, 4 * 10**9], pa.int64()),
        "path": ["a", "a", "a", "a"], "value": [1.0, None, None, 4.0],
        "quality": pa.array([0, 0x808C, 0, 0], pa.uint16()),
    })  # fmt: skip
    rec = Recording.from_table(table)
    assert rec.ts.tolist() == [10**9 + 999, 2 * 10**9 + 1_500, 4 * 10**9]  # Good NaN row gone
    src = ReplaySource(rec, catalogue_for(rec, "us"), tick_s=1.0)
    assert src.truncated_timestamps == 2
    stamps = []
    while not src.finished:
        r = src.step()
        if r.emit.any():
            stamps.append((int(r.ts[0]), int(r.quality[0])))
    assert stamps == [(10**9, 0), (2 * 10**9 + 1_000, 0x808C), (4 * 10**9, 0)]
    b = src.emitted.concat()
    assert b.ts.tolist() == [10**9, 2 * 10**9 + 1_000, 4 * 10**9] and np.isnan(b.values[1])
    rebased = ReplaySource(
        rec, catalogue_for(rec, "us"), rebase=True, rebase_to_ns=5 * 10**18 + 789
    )
    assert int(rebased.step().ts[0]) == 5 * 10**18  # starts on a whole microsecond


def test_rebase_shifts_to_now() -> None:
    rec = Recording.from_csv(io.StringIO(CSV))
    src = ReplaySource(rec, catalogue_for(rec, "x"), rebase=True, rebase_to_ns=5 * 10**18)
    assert int(src.step().ts[0]) == 5 * 10**18
    assert int(src.step().ts[0]) == 5 * 10**18 + 300 * 10**9


def test_long_format_parquet_maps_to_catalogue_paths(tmp_path: Path) -> None:
    cat = generate_oilfield(1)
    tp = cat.tags[0].path
    oil = tp.replace("wellhead.tubing_pressure", "separator.oil")
    table = pa.table({
        "ts": pa.array([10**9, 10**9, 2 * 10**9], pa.int64()),
        "path": [tp, oil, tp], "value": [100.5, 20.25, 101.5], "quality": [0, 0x8000, 0],
    })  # fmt: skip
    pq.write_table(table, tmp_path / "rec.parquet")
    src = ReplaySource.from_file(tmp_path / "rec.parquet", cat)
    r1 = src.step()
    i_tp, i_oil = cat.tags.index(cat.by_path[tp]), cat.tags.index(cat.by_path[oil])
    assert r1.emit.sum() == 2 and r1.values[i_tp] == 100.5 and r1.quality[i_oil] == 0x8000
    r2 = src.step()
    assert r2.emit.sum() == 1 and r2.values[i_tp] == 101.5 and r2.values[i_oil] == 20.25
    assert src.finished


def test_bad_recordings() -> None:
    with pytest.raises(RecordingError, match="no time column"):
        Recording.from_csv(io.StringIO("when,value\n1,2\n"))
    rec = Recording.from_csv(io.StringIO(CSV))
    with pytest.raises(RecordingError, match="no recorded series matches"):
        ReplaySource(rec, generate_oilfield(1))


async def test_nab_replay_through_modbus() -> None:
    src = ReplaySource.from_file(NAB)
    node = TwinNode(src, speed=None, opcua_port=None)
    await node.start()  # publishes the first record
    try:
        assert node.modbus is not None
        c = AsyncModbusTcpClient("127.0.0.1", port=node.modbus.port)
        await c.connect()
        got = []
        for _ in range(20):
            r = await c.read_input_registers(0, count=2, device_id=1)
            got.append(c.convert_from_registers(r.registers, AsyncModbusTcpClient.DATATYPE.FLOAT32))
            await node.tick_once()
        c.close()
    finally:
        await node.stop()
    rec = Recording.from_file(NAB)
    assert got == [float(np.float32(v)) for v in rec.values[:20]]


def test_a_slice_reads_only_its_series_of_a_parquet_recording(tmp_path: Path) -> None:
    cat = generate_oilfield(1)
    paths = [t.path for t in cat.tags[:3]]
    wide = pa.table({"ts": pa.array([10**9, 2 * 10**9], pa.int64()),
                     **{p: [1.0 + k, 2.0 + k] for k, p in enumerate(paths)}})  # fmt: skip
    pq.write_table(wide, tmp_path / "wide.parquet")
    rec = Recording.from_file(tmp_path / "wide.parquet", lambda c: c == paths[1])
    assert rec.columns == [paths[1]] and rec.values.tolist() == [2.0, 3.0]
    long = pa.table({"ts": pa.array([1, 1, 2], pa.int64()), "path": [paths[0], paths[2], paths[2]],
                     "value": [1.0, 2.0, 3.0]})  # fmt: skip
    pq.write_table(long, tmp_path / "long.parquet")
    rec = Recording.from_file(tmp_path / "long.parquet", lambda c: c == paths[2])
    assert rec.columns == [paths[2]] and rec.values.tolist() == [2.0, 3.0]
    # a process's slice of the catalogue: ReplaySource reads what its tags name
    src = ReplaySource.from_file(tmp_path / "wide.parquet", cat.slice(1, 2))
    assert src.tag.tolist() == [0, 0] and src.values.tolist() == [2.0, 3.0]
    assert len(Recording.from_file(tmp_path / "wide.parquet", lambda c: False).columns) == 3
