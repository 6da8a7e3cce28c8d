"""HistoryRead throughput: the historian's OPC UA server vs asyncua's stock in-memory history.

Same data, same run, same client (asyncua, one connection over loopback, following
continuation points):

* ``historian``: ``twinbench historian serve --opcua 127.0.0.1:0`` over a store holding
  one tag with ``--points`` 1 Hz values (server pages of 100,000 values);
* ``asyncua HistoryDict``: a stock asyncua server in its own process whose variable is
  historized with ``HistoryDict`` holding the same values (asyncua's page size, 10,000);

then ReadProcessed (TimeAverage) of one day at 1 h intervals for 100 tags (10 s data)
in one request against the historian. Prints a Markdown table.

    python benchmarks/bench_historyread.py [--points 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from asyncua import Client, ua

from historian import Historian
from historian.model import NS_PER_SECOND as NS
from historian.model import PointBatch

BASE = 1_796_083_200 * NS
DAY_TAGS = 100
SERVE = [str(Path(sys.executable).parent / "twinbench"), "historian", "serve"]

STOCK = textwrap.dedent(
    """
    import asyncio, sys
    from datetime import datetime, timedelta, timezone
    from asyncua import Server, ua
    from asyncua.server.history import HistoryDict
    n, base = int(sys.argv[1]), int(sys.argv[2])
    async def main():
        s = Server(); await s.init()
        s.set_endpoint("opc.tcp://127.0.0.1:0/stock")
        s.iserver.history_manager.set_storage(HistoryDict())
        var = await s.nodes.objects.add_variable(ua.NodeId("t", 2), "t", 0.0)
        await s.iserver.history_manager.storage.new_historized_node(var.nodeid, None, 0)
        e = datetime(1970, 1, 1, tzinfo=timezone.utc)
        store = s.iserver.history_manager.storage._datachanges[var.nodeid]
        for i in range(n):
            t = e + timedelta(microseconds=(base + i * 10**9) // 1000)
            store.append(ua.DataValue(ua.Variant(i * 0.5, ua.VariantType.Double),
                                      SourceTimestamp=t, ServerTimestamp=t))
        await s.start()
        port = s.bserver._server.sockets[0].getsockname()[1]
        print(f"READY opc.tcp://127.0.0.1:{port}/stock", flush=True)
        await asyncio.Event().wait()
    asyncio.run(main())
    """
)

CATALOGUE_HEAD = 'format = "twinbench-catalogue"\nversion = 1\n'


def _tag(i: int, name: str) -> str:
    return (
        f'\n[[tag]]\nid = {i}\npath = "{name}"\nlegacy_name = "T{i}"\nunit = "m"\n'
        'low = 0.0\nhigh = 1e9\ndtype = "float64"\ndescription = "bench"\n'
    )


def _day_tag(k: int) -> str:
    return f"acme.site.area.line.cell.eq{k:03d}.value"


RAW_TAG = "acme.site.area.line.cell.raw.value"


def seed(tmp: Path, points: int) -> Path:
    cat = (
        CATALOGUE_HEAD
        + _tag(1, RAW_TAG)
        + "".join(_tag(10 + k, _day_tag(k)) for k in range(DAY_TAGS))
    )
    (tmp / "c.toml").write_text(cat)
    db = Historian.open(str(tmp / "data"))
    try:
        ts = BASE + np.arange(points, dtype=np.int64) * NS
        db.write(PointBatch.from_arrays(np.full(points, 1), ts, np.arange(points) * 0.5))
        day = BASE + np.arange(8640, dtype=np.int64) * 10 * NS
        for k in range(DAY_TAGS):
            v = np.sin(np.arange(8640) / 100.0 + k)
            db.write(PointBatch.from_arrays(np.full(8640, 10 + k), day, v))
        db.flush()
    finally:
        db.close()
    return tmp / "c.toml"


def _dt(ns: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)


_HISTORY_DATA = ua.NodeId(ua.ObjectIds.HistoryData_Encoding_DefaultBinary)


def _count(data: object) -> int:
    if isinstance(data, ua.ExtensionObject):  # left undecoded: the array length leads the body
        assert data.Body is not None
        return int(np.frombuffer(data.Body[:4], "<i4")[0])
    return len(data.DataValues)  # type: ignore[attr-defined]


async def read_raw(
    url: str, nodeid: ua.NodeId, points: int, decode: bool
) -> tuple[float, int, int]:
    """Read every value following continuation points; ``decode=False`` leaves the
    HistoryData bodies as bytes on the client (asyncua's per-value decoding, ~25 k
    values/s, would otherwise be the only thing measured)."""
    cls = ua.extension_objects_by_typeid.pop(_HISTORY_DATA) if not decode else None
    try:
        return await _read_raw(url, nodeid, points)
    finally:
        if cls is not None:
            ua.extension_objects_by_typeid[_HISTORY_DATA] = cls


async def _read_raw(url: str, nodeid: ua.NodeId, points: int) -> tuple[float, int, int]:
    async with Client(url, timeout=120) as c:
        d = ua.ReadRawModifiedDetails(
            IsReadModified=False, StartTime=_dt(BASE), EndTime=_dt(BASE + points * NS),
            NumValuesPerNode=0, ReturnBounds=False,
        )  # fmt: skip
        got, pages, cp = 0, 0, None
        t0 = time.perf_counter()
        while True:
            p = ua.HistoryReadParameters(
                HistoryReadDetails=d, ReleaseContinuationPoints=False,
                NodesToRead=[ua.HistoryReadValueId(NodeId=nodeid, ContinuationPoint=cp)],
            )  # fmt: skip
            (r,) = await c.uaclient.history_read(p)
            got += _count(r.HistoryData)
            pages += 1
            cp = r.ContinuationPoint
            if not cp:
                break
        return time.perf_counter() - t0, got, pages


async def read_day(url: str) -> tuple[float, int]:
    async with Client(url, timeout=120) as c:
        ns = await c.get_namespace_index("urn:twinbench:historian")
        d = ua.ReadProcessedDetails(
            StartTime=_dt(BASE), EndTime=_dt(BASE + 86_400 * NS), ProcessingInterval=3_600_000.0,
            AggregateType=[ua.NodeId(ua.ObjectIds.AggregateFunction_TimeAverage)] * DAY_TAGS,
            AggregateConfiguration=ua.AggregateConfiguration(UseServerCapabilitiesDefaults=True),
        )  # fmt: skip
        nodes = [ua.HistoryReadValueId(NodeId=ua.NodeId(_day_tag(k), ns)) for k in range(DAY_TAGS)]
        p = ua.HistoryReadParameters(
            HistoryReadDetails=d, ReleaseContinuationPoints=False, NodesToRead=nodes
        )
        t0 = time.perf_counter()
        res = await c.uaclient.history_read(p)
        elapsed = time.perf_counter() - t0
        return elapsed, sum(len(r.HistoryData.DataValues) for r in res)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=200_000)
    args = ap.parse_args()
    env = dict(os.environ, NUMBA_CACHE_DIR=os.environ.get("NUMBA_CACHE_DIR", "/tmp/numba-cache"))
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        cat = seed(tmp, args.points)
        ready = tmp / "ready.json"
        ours = subprocess.Popen(
            [*SERVE, "--data-dir", str(tmp / "data"), "--catalogue", str(cat),
             "--opcua", "127.0.0.1:0", "--ready-file", str(ready)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        )  # fmt: skip
        stock = subprocess.Popen(
            [sys.executable, "-c", STOCK, str(args.points), str(BASE)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 300
            while not ready.exists():
                if time.monotonic() > deadline or ours.poll() is not None:
                    raise SystemExit("the historian server did not start")
                time.sleep(0.1)
            url = json.loads(ready.read_text())["opcua"]
            assert stock.stdout is not None
            stock_url = stock.stdout.readline().split()[-1]
            ns = 2
            rows = []
            for decode in (False, True):
                for name, u, nid in (
                    ("historian (serve --opcua)", url, ua.NodeId(RAW_TAG, ns)),
                    ("asyncua HistoryDict (stock)", stock_url, ua.NodeId("t", 2)),
                ):
                    secs, got, pages = asyncio.run(read_raw(u, nid, args.points, decode))
                    assert got == args.points, (name, got)
                    rows.append((name, decode, got, pages, secs, got / secs))
            cold_s, _ = asyncio.run(read_day(url))  # first aggregate query loads numba code
            day_s, day_values = asyncio.run(read_day(url))
        finally:
            for p in (ours, stock):
                p.terminate()
                p.wait(timeout=30)
    print(
        f"| HistoryRead raw, one asyncua client, loopback ({args.points:,} values) "
        "| client decodes DataValues | pages | seconds | values/s |"
    )
    print("|---|---|---|---|---|")
    for name, decode, _got, pages, secs, rate in rows:
        print(f"| {name} | {'yes' if decode else 'no'} | {pages} | {secs:.3f} | {rate:,.0f} |")
    print(f"\nratio historian / stock, bodies not decoded: {rows[0][5] / rows[1][5]:.1f}x")
    print(f"ratio historian / stock, asyncua decodes every value: {rows[2][5] / rows[3][5]:.1f}x")
    print(
        f"\nReadProcessed TimeAverage, 1 day at 1 h, {DAY_TAGS} tags (10 s data), one request: "
        f"{day_s:.3f} s for {day_values} values (first request, numba code loading: "
        f"{cold_s:.3f} s; target < 1 s)"
    )


if __name__ == "__main__":
    main()
