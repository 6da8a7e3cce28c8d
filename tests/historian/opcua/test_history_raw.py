"""ReadRawModifiedDetails through a real asyncua client over TCP against ``serve --opcua``."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from asyncua.client.client import Client

from tests.historian.opcua.conftest import (
    BAD_SENSOR,
    BASE,
    EMPTY,
    FLOW,
    NS,
    PRECISE,
    RUNNING,
    UNCERTAIN_DATA_SUBNORMAL,
    OpcUaHistorian,
    flow_columns,
    precise_ts,
)
from tests.historian.opcua.helpers import history_read, ns_of, raw, read_all_raw, ua
from tests.opcua_fields import status_of, value_of

NAMESPACE = "urn:twinbench:historian"
BOUND_NOT_FOUND = ua.StatusCodes.BadBoundNotFound


@pytest.fixture
async def client(historian_server: OpcUaHistorian) -> AsyncIterator[Client]:
    async with Client(historian_server.url, timeout=30) as c:
        yield c


async def _node(client: Client, name: str) -> Any:
    ns = await client.get_namespace_index(NAMESPACE)
    return ua.NodeId(name, ns)


def _times(dvs: list[Any]) -> list[int]:
    return [ns_of(dv) for dv in dvs]


async def test_forward_range_is_start_inclusive_end_exclusive(client: Client) -> None:
    node = await _node(client, FLOW)
    (r,) = await history_read(client, raw(BASE + 10 * NS, BASE + 20 * NS), [node])
    dvs = r.HistoryData.DataValues
    assert r.StatusCode.is_good() and not r.ContinuationPoint
    assert _times(dvs) == [BASE + k * NS for k in range(10, 20)]
    assert [dv.Value.Value for dv in dvs] == [k * 0.5 for k in range(10, 20)]


async def test_asyncua_read_raw_history_pages_the_whole_hour(client: Client) -> None:
    n = client.get_node(await _node(client, FLOW))
    from tests.historian.opcua.helpers import dt

    dvs = await n.read_raw_history(dt(BASE), dt(BASE + 3600 * NS), numvalues=0, return_bounds=False)
    ts, values, quality = flow_columns()
    assert _times(dvs) == ts.tolist()
    for dv, v, q in zip(dvs, values.tolist(), quality.tolist(), strict=True):
        assert status_of(dv).value == q << 16
        if q >> 14 >= 2:
            assert value_of(dv) is None  # Part 4: a Bad value is null
        else:
            assert value_of(dv) == v


async def test_bad_and_uncertain_statuses_travel(client: Client) -> None:
    node = await _node(client, FLOW)
    (r,) = await history_read(client, raw(BASE + 99 * NS, BASE + 106 * NS), [node])
    codes = [dv.StatusCode.value >> 16 for dv in r.HistoryData.DataValues]
    assert codes == [0, *[BAD_SENSOR] * 5, 0]
    (r,) = await history_read(client, raw(BASE + 200 * NS, BASE + 201 * NS), [node])
    assert r.HistoryData.DataValues[0].StatusCode.value >> 16 == UNCERTAIN_DATA_SUBNORMAL


async def test_bounds_are_the_values_at_or_outside_each_end(client: Client) -> None:
    node = await _node(client, FLOW)
    d = raw(BASE + 10 * NS + 500_000_000, BASE + 20 * NS + 500_000_000, bounds=True)
    (r,) = await history_read(client, d, [node])
    assert _times(r.HistoryData.DataValues) == [BASE + k * NS for k in range(10, 22)]
    # a value exactly at the start is its own bound
    (r,) = await history_read(client, raw(BASE + 10 * NS, BASE + 12 * NS, bounds=True), [node])
    assert _times(r.HistoryData.DataValues) == [BASE + k * NS for k in (10, 11, 12)]


async def test_missing_bounds_are_bad_bound_not_found_placeholders(client: Client) -> None:
    node = await _node(client, FLOW)
    start, end = BASE - 5 * NS, BASE + 3700 * NS
    dvs = (await history_read(client, raw(start, BASE + 2 * NS, bounds=True), [node]))[0]
    first = dvs.HistoryData.DataValues[0]
    assert first.StatusCode.value == BOUND_NOT_FOUND and ns_of(first) == start
    assert first.Value.Value is None
    (r,) = await history_read(client, raw(BASE + 3598 * NS, end, bounds=True), [node])
    last = r.HistoryData.DataValues[-1]
    assert last.StatusCode.value == BOUND_NOT_FOUND and ns_of(last) == end
    assert _times(r.HistoryData.DataValues[:-1]) == [BASE + 3598 * NS, BASE + 3599 * NS]
    # a tag without data: both placeholders, nothing else
    (r,) = await history_read(client, raw(start, end, bounds=True), [await _node(client, EMPTY)])
    codes = [dv.StatusCode.value for dv in r.HistoryData.DataValues]
    assert codes == [BOUND_NOT_FOUND, BOUND_NOT_FOUND]


async def test_no_data_is_good_no_data(client: Client) -> None:
    (r,) = await history_read(client, raw(BASE, BASE + NS), [await _node(client, EMPTY)])
    assert r.StatusCode.value == ua.StatusCodes.GoodNoData and not r.HistoryData.DataValues


async def test_end_before_start_reads_newest_first(client: Client) -> None:
    node = await _node(client, FLOW)
    (r,) = await history_read(client, raw(BASE + 20 * NS, BASE + 10 * NS), [node])
    # (end, start]: the start (later) time is included, the end excluded
    assert _times(r.HistoryData.DataValues) == [BASE + k * NS for k in range(20, 10, -1)]
    (r,) = await history_read(client, raw(BASE + 20 * NS, BASE + 10 * NS, bounds=True), [node])
    assert _times(r.HistoryData.DataValues) == [BASE + k * NS for k in range(20, 9, -1)]


async def test_two_of_three_parameters(client: Client) -> None:
    node = await _node(client, FLOW)
    (r,) = await history_read(client, raw(BASE + 100 * NS, None, num=3), [node])
    assert _times(r.HistoryData.DataValues) == [BASE + k * NS for k in (100, 101, 102)]
    assert not r.ContinuationPoint  # numValuesPerNode is the total when one time is given
    (r,) = await history_read(client, raw(None, BASE + 100 * NS, num=3), [node])
    assert _times(r.HistoryData.DataValues) == [BASE + k * NS for k in (100, 99, 98)]
    for bad in (raw(BASE, None), raw(None, BASE), raw(None, None, num=5)):
        (r,) = await history_read(client, bad, [node])
        assert r.StatusCode.value == ua.StatusCodes.BadInvalidTimestampArgument


async def test_start_equal_end_returns_the_value_at_that_time(client: Client) -> None:
    node = await _node(client, FLOW)
    (r,) = await history_read(client, raw(BASE + 7 * NS, BASE + 7 * NS), [node])
    assert _times(r.HistoryData.DataValues) == [BASE + 7 * NS]
    (r,) = await history_read(client, raw(BASE + 7 * NS + 1000, BASE + 7 * NS + 1000), [node])
    assert r.StatusCode.value == ua.StatusCodes.GoodNoData


async def test_continuation_points_page_the_range_exactly(client: Client) -> None:
    node = await _node(client, FLOW)
    for bounds in (False, True):
        dvs, pages = await read_all_raw(
            client, node, raw(BASE - NS, BASE + 3700 * NS, 1000, bounds)
        )
        ts = [BASE + k * NS for k in range(3600)]
        assert pages == 4 + (bounds and 3602 > 4000)
        if bounds:
            assert dvs[0].StatusCode.value == BOUND_NOT_FOUND == dvs[-1].StatusCode.value
            dvs = dvs[1:-1]
        assert _times(dvs) == ts
    back, _ = await read_all_raw(client, node, raw(BASE + 3599 * NS, BASE - NS, 700))
    assert _times(back) == ts[::-1]


async def test_release_and_invalid_continuation_points(client: Client) -> None:
    node = await _node(client, FLOW)
    d = raw(BASE, BASE + 3600 * NS, 10)
    (r,) = await history_read(client, d, [node])
    cp = r.ContinuationPoint
    assert cp and len(cp) == 16 and str(BASE) not in repr(cp)  # opaque
    (rel,) = await history_read(client, d, [node], cps=[cp], release=True)
    assert rel.StatusCode.is_good() and not rel.HistoryData
    (after,) = await history_read(client, d, [node], cps=[cp])
    assert after.StatusCode.value == ua.StatusCodes.BadContinuationPointInvalid
    (junk,) = await history_read(client, d, [node], cps=[b"\x00garbage\xff" * 3])
    assert junk.StatusCode.value == ua.StatusCodes.BadContinuationPointInvalid
    (r,) = await history_read(client, d, [node])
    (other,) = await history_read(
        client, d, [await _node(client, RUNNING)], cps=[r.ContinuationPoint]
    )
    assert other.StatusCode.value == ua.StatusCodes.BadContinuationPointInvalid


async def test_read_modified_is_unsupported(client: Client) -> None:
    d = raw(BASE, BASE + NS)
    d.IsReadModified = True
    (r,) = await history_read(client, d, [await _node(client, FLOW)])
    assert r.StatusCode.value == ua.StatusCodes.BadHistoryOperationUnsupported


async def test_timestamps_to_return(client: Client) -> None:
    node = await _node(client, PRECISE)
    d = raw(BASE, BASE + 10 * NS)
    (r,) = await history_read(client, d, [node], timestamps=ua.TimestampsToReturn.Source)
    # the wire carries the ns (picoseconds); asyncua's DateTime decoder keeps microseconds
    assert _times(r.HistoryData.DataValues) == [t // 1000 * 1000 + t % 100 for t in precise_ts()]
    assert all(dv.ServerTimestamp is None for dv in r.HistoryData.DataValues)
    (r,) = await history_read(client, d, [node], timestamps=ua.TimestampsToReturn.Both)
    assert all(dv.ServerTimestamp == dv.SourceTimestamp for dv in r.HistoryData.DataValues)
    (r,) = await history_read(client, d, [node], timestamps=ua.TimestampsToReturn.Server)
    assert all(dv.SourceTimestamp is None and dv.ServerTimestamp for dv in r.HistoryData.DataValues)
    with pytest.raises(ua.UaStatusCodeError) as err:
        await history_read(client, d, [node], timestamps=ua.TimestampsToReturn.Neither)
    assert err.value.code == ua.StatusCodes.BadTimestampsToReturnInvalid


async def test_unknown_and_unhistorized_nodes_and_too_many_nodes(client: Client) -> None:
    ns = await client.get_namespace_index(NAMESPACE)
    d = raw(BASE, BASE + NS)
    unknown, folder = ua.NodeId("acme.nowhere", ns), ua.NodeId("acme.site1", ns)
    r = await history_read(client, d, [unknown, folder, await _node(client, FLOW)])
    assert r[0].StatusCode.value == ua.StatusCodes.BadNodeIdUnknown
    assert r[1].StatusCode.value == ua.StatusCodes.BadHistoryOperationUnsupported
    assert r[2].StatusCode.is_good()
    with pytest.raises(ua.UaStatusCodeError) as err:
        await history_read(client, d, [unknown] * 1001)
    assert err.value.code == ua.StatusCodes.BadTooManyOperations


async def test_bool_tag_values_are_booleans(client: Client) -> None:
    (r,) = await history_read(client, raw(BASE, BASE + 3600 * NS), [await _node(client, RUNNING)])
    values = [dv.Value.Value for dv in r.HistoryData.DataValues]
    assert values == [False, True, False, True, False, True]
    assert not any(isinstance(v, float) and math.isnan(v) for v in values)


@pytest.fixture(scope="module")
def small_limits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpcUaHistorian]:
    server = OpcUaHistorian(
        tmp_path_factory.mktemp("limits"),
        *("--opcua-limit", "max_values=500", "--opcua-limit", "max_intervals=4"),
        *("--opcua-limit", "continuation_points=2", "--opcua-limit", "max_at_times=3"),
        *("--opcua-limit", "max_nodes=2"),
    )
    yield server
    assert server.stop() == 0, server.log.read_text()


async def test_server_limits_page_raw_and_processed_reads(small_limits: OpcUaHistorian) -> None:
    from historian.query.part13 import AGGREGATES
    from tests.historian.opcua.helpers import at_time, processed

    async with Client(small_limits.url, timeout=30) as c:
        node = await _node(c, FLOW)
        # no numValuesPerNode: the server's MaxReturnDataValues pages the answer
        dvs, pages = await read_all_raw(c, node, raw(BASE, BASE + 3600 * NS, bounds=True))
        assert pages == 8 and _times(dvs) == [BASE + k * NS for k in range(3600)] + [
            BASE + 3600 * NS
        ]
        assert dvs[-1].StatusCode.value == BOUND_NOT_FOUND
        # processed: 10 intervals of 6 min, 4 per response, pages join seamlessly
        avg = AGGREGATES["TimeAverage"].node_id
        d = processed(BASE, BASE + 3600 * NS, 6 * 60_000.0, [avg])
        got, cp = [], None
        while True:
            (r,) = await history_read(c, d, [node], cps=[cp])
            got += r.HistoryData.DataValues
            cp = r.ContinuationPoint
            if not cp:
                break
        assert [ns_of(dv) for dv in got] == [BASE + k * 360 * NS for k in range(10)]
        (one,) = await history_read(c, processed(BASE, BASE + 3600 * NS, 0, [avg]), [node])
        assert one.HistoryData.DataValues[0].StatusCode.value >> 16 == got[0].StatusCode.value >> 16
        # limits with their codes
        (r,) = await history_read(
            c, at_time([BASE, BASE + NS, BASE + 2 * NS, BASE + 3 * NS], True), [node]
        )
        assert r.StatusCode.value == ua.StatusCodes.BadTooManyArguments
        with pytest.raises(ua.UaStatusCodeError) as err:
            await history_read(c, raw(BASE, BASE + NS), [node] * 3)
        assert err.value.code == ua.StatusCodes.BadTooManyOperations
        # only two continuation points live: the oldest of three is dropped
        d = raw(BASE, BASE + 3600 * NS, 10)
        cps = [(await history_read(c, d, [node]))[0].ContinuationPoint for _ in range(3)]
        (oldest,) = await history_read(c, d, [node], cps=[cps[0]])
        assert oldest.StatusCode.value == ua.StatusCodes.BadContinuationPointInvalid
        (newest,) = await history_read(c, d, [node], cps=[cps[2]])
        assert _times(newest.HistoryData.DataValues) == [BASE + k * NS for k in range(10, 20)]
