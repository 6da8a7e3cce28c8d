"""ReadProcessed and ReadAtTime over TCP: the network returns exactly what the engine computes.

The expected answers come from :meth:`QueryEngine.aggregate` in this process over a
second store seeded with the same data (the server holds its own store's lock).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from asyncua.client.client import Client

from historian import Historian
from historian.catalogue import TagCatalogue
from historian.query.engine import QueryEngine
from historian.query.part13 import AGGREGATES, AggregateConfiguration
from tests.historian.opcua.conftest import (
    BASE,
    CATALOGUE,
    FLOW,
    NS,
    RUNNING,
    OpcUaHistorian,
    seed_store,
)
from tests.historian.opcua.helpers import at_time, dt, history_read, ns_of, processed, ua

NAMESPACE = "urn:twinbench:historian"
MIN = 60_000.0  # ms


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QueryEngine]:
    tmp = tmp_path_factory.mktemp("twin")
    seed_store(tmp / "data")
    (tmp / "c.toml").write_text(CATALOGUE)
    db = Historian.open(str(tmp / "data"))
    yield QueryEngine(db, TagCatalogue.load_toml(Path(tmp / "c.toml")))
    db.close()


@pytest.fixture
async def client(historian_server: OpcUaHistorian) -> AsyncIterator[Client]:
    async with Client(historian_server.url, timeout=30) as c:
        yield c


async def _node(client: Client, name: str) -> Any:
    return ua.NodeId(name, await client.get_namespace_index(NAMESPACE))


def _assert_same(dvs: list[Any], want: Any, name: str) -> None:
    assert len(dvs) == len(want.timestamps), name
    for dv, t, v, code in zip(
        dvs, want.timestamps.tolist(), want.values.tolist(), want.status.tolist(), strict=True
    ):
        assert ns_of(dv) == t, name
        assert dv.StatusCode.value == code, (name, t, hex(dv.StatusCode.value), hex(code))
        got = dv.Value.Value
        if (code >> 30) >= 2 or not math.isfinite(v):
            assert got is None, (name, t, got)
        elif isinstance(got, ua.StatusCode):
            assert got.value == int(v), name
        else:
            assert got == pytest.approx(v, rel=0, abs=0), (name, t, got, v)


@pytest.mark.parametrize(
    ("start", "end", "interval_ms"),
    [
        (BASE, BASE + 3600 * NS, 10 * MIN),  # whole intervals
        (BASE - 300 * NS, BASE + 1500 * NS, 7 * MIN),  # before data, Partial remainder
        (BASE + 3600 * NS, BASE + 1200 * NS, 10 * MIN),  # time backwards
        (BASE + 3000 * NS, BASE + 4200 * NS, 0),  # one interval, past the end of data
    ],
)
async def test_every_aggregate_equals_the_engine(
    client: Client, engine: QueryEngine, start: int, end: int, interval_ms: float
) -> None:
    node = await _node(client, FLOW)
    names = list(AGGREGATES)
    ids = [AGGREGATES[n].node_id for n in names]
    d = processed(start, end, interval_ms, ids)
    results = await history_read(client, d, [node] * len(ids))
    for name, r in zip(names, results, strict=True):
        assert r.StatusCode.is_good(), (name, r.StatusCode)
        want = engine.aggregate(FLOW, name, start, end, int(interval_ms * 1e6))
        _assert_same(r.HistoryData.DataValues, want, name)


async def test_request_configuration_and_server_defaults(
    client: Client, engine: QueryEngine
) -> None:
    node = await _node(client, FLOW)
    cfg = ua.AggregateConfiguration(
        UseServerCapabilitiesDefaults=False,
        TreatUncertainAsBad=False,
        PercentDataBad=50,
        PercentDataGood=50,
        UseSlopedExtrapolation=True,
    )
    mine = AggregateConfiguration(False, 50.0, 50.0, True)
    for name in ("Average", "TimeAverage", "Interpolative", "Minimum", "Count"):
        fid = AGGREGATES[name].node_id
        (r,) = await history_read(client, processed(BASE, BASE + 600 * NS, MIN, [fid], cfg), [node])
        _assert_same(
            r.HistoryData.DataValues,
            engine.aggregate(FLOW, name, BASE, BASE + 600 * NS, 60 * NS, mine),
            name,
        )
        (r,) = await history_read(client, processed(BASE, BASE + 600 * NS, MIN, [fid]), [node])
        want = engine.aggregate(FLOW, name, BASE, BASE + 600 * NS, 60 * NS)
        _assert_same(r.HistoryData.DataValues, want, name)


async def test_processed_errors(client: Client) -> None:
    node = await _node(client, FLOW)
    avg = AGGREGATES["Average"].node_id
    with pytest.raises(ua.UaStatusCodeError) as err:
        await history_read(client, processed(BASE, BASE + 60 * NS, MIN, [avg, avg]), [node])
    assert err.value.code == ua.StatusCodes.BadAggregateListMismatch
    (r,) = await history_read(client, processed(BASE, BASE + 60 * NS, MIN, [9999]), [node])
    assert r.StatusCode.value == ua.StatusCodes.BadAggregateNotSupported
    bad = ua.AggregateConfiguration(
        UseServerCapabilitiesDefaults=False, PercentDataBad=10, PercentDataGood=10
    )
    (r,) = await history_read(client, processed(BASE, BASE + 60 * NS, MIN, [avg], bad), [node])
    assert r.StatusCode.value == ua.StatusCodes.BadAggregateConfigurationRejected
    (r,) = await history_read(client, processed(BASE, BASE, MIN, [avg]), [node])
    assert r.StatusCode.value == ua.StatusCodes.BadInvalidArgument


async def test_at_time_simple_and_interpolated_bounds(client: Client, engine: QueryEngine) -> None:
    node = await _node(client, FLOW)
    # between two Good values, inside the Bad run, before the data, after its end, and
    # out of order: results follow the request order
    times = [BASE + 10 * NS + NS // 2, BASE + 102 * NS, BASE - NS, BASE + 7200 * NS, BASE + 5 * NS]
    for simple, name in ((True, "StartBound"), (False, "Interpolative")):
        (r,) = await history_read(client, at_time(times, simple), [node])
        dvs = r.HistoryData.DataValues
        assert [ns_of(dv) for dv in dvs] == times
        for dv, t in zip(dvs, times, strict=True):
            want = engine.aggregate(FLOW, name, t, t + 1, 0)
            assert dv.StatusCode.value == int(want.status[0]), (simple, t)
            if math.isfinite(want.values[0]) and (int(want.status[0]) >> 30) < 2:
                assert dv.Value.Value == want.values[0], (simple, t)
    (r,) = await history_read(client, at_time([BASE + 10 * NS + NS // 2], True), [node])
    assert r.HistoryData.DataValues[0].Value.Value == 5.25  # linear between 5.0 and 5.5
    # a grid of times (the last near the end of data) and times 1 us apart
    grid = [BASE + k * 30 * NS for k in range(-2, 130)] + [
        BASE + 3 * NS + k * 1000 for k in range(3)
    ]
    for simple, name in ((True, "StartBound"), (False, "Interpolative")):
        (r,) = await history_read(client, at_time(grid[:-3], simple), [node])
        (near,) = await history_read(
            client, at_time(grid[-3:], simple), [node]
        )  # 1 us apart (request times are microseconds)
        for dv, t in zip(r.HistoryData.DataValues + near.HistoryData.DataValues, grid, strict=True):
            want = engine.aggregate(FLOW, name, t, t + 1, 0)
            assert dv.StatusCode.value == int(want.status[0]), (name, t)


async def test_at_time_holds_a_stepped_tag(client: Client) -> None:
    node = await _node(client, RUNNING)
    (r,) = await history_read(client, at_time([BASE + 900 * NS], False), [node])
    dv = r.HistoryData.DataValues[0]
    assert dv.Value.Value == 1.0  # set to 1 at 600 s, held until 1200 s (no interpolation)


def test_engine_fixture_holds_the_same_data(engine: QueryEngine) -> None:
    assert np.asarray(engine.raw(FLOW, BASE, BASE + 3600 * NS).ts).size == 3600
    assert dt(BASE).year == 2026
