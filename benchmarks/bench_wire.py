"""Wire format choice: TBWB (ours) vs Arrow IPC vs Protobuf, same batches, same run.

Prints encode+decode points/s and bytes per point for 1,000- and 5,000-point
batches, and each format's ratio against TBWB. Protobuf uses a message with
packed repeated fields (the seed's shape), built at run time from a descriptor
so no protoc step is needed.

    python benchmarks/bench_wire.py
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import pyarrow as pa

from historian.bus.wire import decode_batch, encode_batch
from historian.model import PointBatch


def _make_batch(n: int, seed: int = 1) -> PointBatch:
    rng = np.random.default_rng(seed)
    series = rng.integers(0, 10_000, n, dtype=np.uint32)
    ts = 1_700_000_000_000_000_000 + np.arange(n, dtype=np.int64) * 1_000_000
    values = np.round(rng.normal(100, 10, n), 2)
    quality = np.zeros(n, dtype=np.uint16)
    return PointBatch.from_arrays(series, ts, values, quality)


def _tbwb(b: PointBatch) -> tuple[Callable[[], bytes], Callable[[bytes], object]]:
    def enc() -> bytes:
        return encode_batch(b, source_id="collector-0", sequence=42)

    def dec(m: bytes) -> object:
        d = decode_batch(m)
        return d.batch.values.sum()

    return enc, dec


_SCHEMA = pa.schema(
    [
        ("series", pa.uint32()),
        ("ts", pa.int64()),
        ("values", pa.float64()),
        ("quality", pa.uint16()),
    ],
    metadata={"source_id": "collector-0", "sequence": "42"},
)


def _arrow(b: PointBatch) -> tuple[Callable[[], bytes], Callable[[bytes], object]]:
    def enc() -> bytes:
        rb = pa.record_batch([b.series, b.ts, b.values, b.quality], schema=_SCHEMA)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, _SCHEMA) as w:
            w.write_batch(rb)
        return sink.getvalue().to_pybytes()

    def dec(m: bytes) -> object:
        rb = pa.ipc.open_stream(m).read_next_batch()
        return rb.column(2).to_numpy().sum()

    return enc, dec


def _protobuf_class() -> type | None:
    try:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    except ImportError:
        return None
    fdp = descriptor_pb2.FileDescriptorProto(name="tb_bench.proto", package="tb", syntax="proto3")
    m = fdp.message_type.add(name="Batch")
    f = descriptor_pb2.FieldDescriptorProto
    for i, (name, typ, rep) in enumerate(
        [
            ("source_id", f.TYPE_STRING, False),
            ("sequence", f.TYPE_UINT64, False),
            ("series", f.TYPE_UINT32, True),
            ("ts", f.TYPE_SFIXED64, True),
            ("values", f.TYPE_DOUBLE, True),
            ("quality", f.TYPE_UINT32, True),
        ],
        start=1,
    ):
        m.field.add(
            name=name, number=i, type=typ, label=f.LABEL_REPEATED if rep else f.LABEL_OPTIONAL
        )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tb.Batch"))


def _protobuf(b: PointBatch, cls: type) -> tuple[Callable[[], bytes], Callable[[bytes], object]]:
    def enc() -> bytes:
        msg = cls(source_id="collector-0", sequence=42)
        msg.series.extend(b.series.tolist())
        msg.ts.extend(b.ts.tolist())
        msg.values.extend(b.values.tolist())
        msg.quality.extend(b.quality.tolist())
        return bytes(msg.SerializeToString())

    def dec(m: bytes) -> object:
        msg = cls()
        msg.ParseFromString(m)
        return np.fromiter(msg.values, dtype=np.float64, count=len(msg.values)).sum()

    return enc, dec


def _measure(
    enc: Callable[[], bytes], dec: Callable[[bytes], object], n: int
) -> tuple[float, float]:
    msg = enc()
    rounds = []
    for _ in range(5):
        reps = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 0.4:
            dec(enc())
            reps += 1
        rounds.append(reps * n / (time.perf_counter() - t0))
    return statistics.median(rounds), len(msg) / n


def main() -> None:
    pb = _protobuf_class()
    print(f"{'format':<10} {'points':>6} {'enc+dec pts/s':>14} {'B/pt':>6} {'speed vs TBWB':>14}")
    for n in (1000, 5000):
        b = _make_batch(n)
        candidates = {"TBWB": _tbwb(b), "ArrowIPC": _arrow(b)}
        if pb is not None:
            candidates["protobuf"] = _protobuf(b, pb)
        results = {name: _measure(e, d, n) for name, (e, d) in candidates.items()}
        base = results["TBWB"][0]
        for name, (rate, bpp) in results.items():
            print(f"{name:<10} {n:>6} {rate:>14,.0f} {bpp:>6.2f} {rate / base:>13.2f}x")
    if pb is None:
        print("protobuf not installed: `pip install protobuf` to include it")


if __name__ == "__main__":
    main()
