"""Plant servers with ``--history-from URL``: their OPC UA variables answer HistoryRead
from a real historian process (``twinbench historian serve --http``), not from the
in-memory emitted log.

The store holds history for two of the plant's own tags (the historian's catalogue is
the plant's): float64 values whose bits would not survive a float32 (or decimal)
round trip, a Bad stretch with NaN, and timestamps with sub-microsecond parts. A real
asyncua client reads them back through the plant server's HistoryRead.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from asyncua import ua
from asyncua.client.client import Client
from asyncua.ua.status_codes import StatusCodes
from asyncua.ua.uaerrors import UaStatusCodeError

from historian import Historian
from historian.model import NS_PER_SECOND as NS
from historian.model import PointBatch, status_code_from_quality
from sim.catalogue_gen import generate_profile
from sim.servers.history_http import HistorianHttpHistory
from sim.servers.launch import ServerProcess, start_servers, stop_servers
from sim.tags import dumps_catalogue
from tests.historian.serve_process import ServeProcess
from tests.opcua_fields import source_time_of, status_of, value_of

pytestmark = [pytest.mark.slow, pytest.mark.service]

BASE = 1_796_083_200 * NS  # 2026-12-01T00:00:00Z, long before the plant's own clock
N = 2_500
SERVE = [str(Path(sys.executable).parent / "twinbench"), "historian", "serve"]
CAT = generate_profile("normal", 0)
TAGS = [t for t in CAT.tags if not t.writable][:2]


def columns(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    i = np.arange(N)
    ts = BASE + i * 2 * NS + (123_456_789 if k == 1 else 0)  # tag 1: sub-us parts
    values = np.sin(i * 0.001 + k) * 1e3 + 1 / 3  # full 53-bit mantissas
    quality = np.zeros(N, np.uint16)
    values[700:705] = np.nan
    quality[700:705] = 0x808C  # BadSensorFailure
    quality[900] = 0x40A4  # Uncertain_DataSubNormal
    return ts.astype(np.int64), values, quality


def seed(data: Path) -> None:
    db = Historian.open(str(data))
    try:
        for k, tag in enumerate(TAGS):
            ts, v, q = columns(k)
            db.write(PointBatch.from_arrays(np.full(N, tag.id), ts, v, q))
        db.flush()
    finally:
        db.close()


@pytest.fixture(scope="module")
def historian(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    server = ServeProcess(
        SERVE, tmp_path_factory.mktemp("hist"), dumps_catalogue(CAT), seed,
        ["--http", "127.0.0.1:0"], [], 90,
    )  # fmt: skip
    yield server
    server.stop()


@pytest.fixture(scope="module")
def plant(
    historian: ServeProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    work = tmp_path_factory.mktemp("plant")
    procs = start_servers(
        profile="normal", seed=0, modbus=False, workdir=work,
        history_from=str(historian.info["http"]),
    )  # fmt: skip
    yield procs[0]
    stop_servers(procs)


def _dt(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // NS, UTC).replace(microsecond=(ns % NS) // 1000)


async def test_history_read_answers_from_the_historian(plant: ServerProcess) -> None:
    assert plant.opcua_endpoint is not None
    async with Client(plant.opcua_endpoint, timeout=30) as c:
        for k, tag in enumerate(TAGS):
            node = c.get_node(f"ns=2;s={tag.path}")
            dvs = await node.read_raw_history(_dt(BASE), _dt(BASE + 2 * N * NS), numvalues=0)
            ts, values, quality = columns(k)
            assert len(dvs) == N, (tag.path, len(dvs))
            got_v = np.array([value_of(dv) for dv in dvs], np.float64)
            assert np.array_equal(got_v.view(np.int64)[~np.isnan(values)],
                                  values.view(np.int64)[~np.isnan(values)])  # fmt: skip
            assert np.isnan(got_v[700:705]).all()
            assert [status_of(dv).value for dv in dvs] == [
                status_code_from_quality(int(q)) for q in quality
            ]
            # asyncua carries DateTime as a Python datetime: microseconds (docs/replay.md)
            got_t = [int(source_time_of(dv).replace(tzinfo=UTC).timestamp()) * NS
                     + source_time_of(dv).microsecond * 1000 for dv in dvs]  # fmt: skip
            assert got_t == (ts // 1000 * 1000).tolist()


async def test_continuation_points_page_through_the_historian(plant: ServerProcess) -> None:
    """NumValuesPerNode 1000: three requests with continuation points, nothing lost or repeated."""
    assert plant.opcua_endpoint is not None
    tag = TAGS[0]
    async with Client(plant.opcua_endpoint, timeout=30) as c:
        node = c.get_node(f"ns=2;s={tag.path}")
        details = ua.ReadRawModifiedDetails(
            IsReadModified=False, StartTime=_dt(BASE), EndTime=_dt(BASE + 2 * N * NS),
            NumValuesPerNode=1000, ReturnBounds=False,
        )  # fmt: skip
        pages, cont, values = 0, None, []
        while True:
            res = await node.history_read(details, cont)
            res.StatusCode.check()
            values += [dv.Value.Value for dv in res.HistoryData.DataValues]
            pages += 1
            cont = res.ContinuationPoint
            if not cont:
                break
        assert pages == 3 and len(values) == N
    want = columns(0)[1]
    assert np.array_equal(np.array(values), want, equal_nan=True)


def test_backend_follows_the_apis_page_tokens(historian: ServeProcess) -> None:
    import asyncio

    tag = TAGS[1]
    backend = HistorianHttpHistory(str(historian.info["http"]), {tag.id: tag.path}, page=700)
    ts, values, quality = columns(1)
    # end is inclusive on this seam: the last point sits exactly on it
    b = asyncio.run(backend.read_raw(tag.id, int(ts[0]), int(ts[-1]), 0))
    assert backend.requests == 4  # 700 + 700 + 700 + 400
    assert b.ts.tolist() == ts.tolist()  # nanoseconds kept on the HTTP side
    assert (
        np.array_equal(b.values, values, equal_nan=True) and b.quality.tolist() == quality.tolist()
    )
    lim = asyncio.run(backend.read_raw(tag.id, int(ts[10]), int(ts[-1]), 5))
    assert lim.ts.tolist() == ts[10:15].tolist()
    assert len(asyncio.run(backend.read_raw(999_999, 0, 2**62, 0))) == 0  # not a plant tag
    unknown = HistorianHttpHistory(str(historian.info["http"]), {1: "no.such.tag.a.b.c.d"})
    assert len(asyncio.run(unknown.read_raw(1, 0, 2**62, 0))) == 0  # 404: no history


async def test_unreachable_historian_is_bad_no_communication(
    plant: ServerProcess, historian: ServeProcess
) -> None:
    """Last in the module: it stops the historian the plant reads from."""
    assert historian.stop() == 0, historian.log.read_text()
    assert plant.opcua_endpoint is not None
    async with Client(plant.opcua_endpoint, timeout=30) as c:
        with pytest.raises(UaStatusCodeError) as e:
            await c.get_node(f"ns=2;s={TAGS[0].path}").read_raw_history(
                _dt(BASE), _dt(BASE + 10 * NS)
            )
    assert e.value.code == StatusCodes.BadNoCommunication


def test_serve_cli_refuses_a_history_url_that_is_not_http() -> None:
    twinbench = str(Path(sys.executable).parent / "twinbench")
    r = subprocess.run([twinbench, "sim", "serve", "--history-from", "localhost:8080"],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 2 and "--history-from" in r.stderr and "http://" in r.stderr, r.stderr
