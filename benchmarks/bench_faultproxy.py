"""What the FaultProxy (pass mode) costs: bulk throughput, round-trip time, JetStream publish.

Each figure is measured direct and through the proxy side by side in this run
(median of 3 rounds) and printed as a ratio; the proxy runs on its own event
loop thread, as scenarios use it. Bounded to well under a minute.

    python benchmarks/bench_faultproxy.py
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.faults import FaultProxy
from harness.services import NatsServer

ROUNDS = 3
BULK_BYTES = 64 * 1024 * 1024
PINGS = 2000
NATS_MSGS = 3000
NATS_MSG_BYTES = 20_000  # ~1,000 points per batch on the wire


def sink_server() -> tuple[socket.socket, threading.Thread]:
    """Accepts connections and reads until EOF, replying b'k' (bulk) or echoing (ping)."""
    srv = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    def handle(conn: socket.socket) -> None:
        with conn:
            mode = conn.recv(1)
            if mode == b"B":
                while conn.recv(1 << 20):
                    pass
                conn.sendall(b"k")
            else:
                while data := conn.recv(64):
                    conn.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return srv, thread


def bulk_mb_s(port: int) -> float:
    chunk = b"x" * (1 << 20)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        start = time.perf_counter()
        sock.sendall(b"B")
        for _ in range(BULK_BYTES // len(chunk)):
            sock.sendall(chunk)
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(1) == b"k"
        return BULK_BYTES / (time.perf_counter() - start) / 1e6


def rtt_us(port: int) -> tuple[float, float]:
    samples = []
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(b"P")
        for _ in range(PINGS):
            start = time.perf_counter()
            sock.sendall(b"12345678")
            got = b""
            while len(got) < 8:
                got += sock.recv(8 - len(got))
            samples.append((time.perf_counter() - start) * 1e6)
    samples.sort()
    return statistics.median(samples), samples[int(0.99 * len(samples))]


async def nats_publish_msgs_s(url: str) -> float:
    import nats

    nc = await nats.connect(url)
    try:
        js = nc.jetstream(publish_async_max_pending=64)
        payload = b"p" * NATS_MSG_BYTES
        start = time.perf_counter()
        futures = [await js.publish_async("bench.x", payload) for _ in range(NATS_MSGS)]
        await asyncio.wait_for(asyncio.gather(*futures), 60)
        return NATS_MSGS / (time.perf_counter() - start)
    finally:
        await nc.close()


async def add_stream(url: str) -> None:
    import nats

    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(name="BENCH", subjects=["bench.>"], max_bytes=512 * 1024 * 1024)
    await nc.close()


def report(name: str, unit: str, direct: list[float], proxied: list[float]) -> None:
    d, p = statistics.median(direct), statistics.median(proxied)
    print(
        f"{name:<28} direct {d:>10.1f} {unit:<7} proxy {p:>10.1f} {unit:<7}"
        f" proxy/direct {p / d:5.2f}"
    )


def main() -> None:
    srv, _ = sink_server()
    port = srv.getsockname()[1]
    with FaultProxy.run_in_thread("127.0.0.1", port) as tp:
        bulk_d, bulk_p, rtt_d, rtt_p, p99_d, p99_p = [], [], [], [], [], []
        for _ in range(ROUNDS):
            bulk_d.append(bulk_mb_s(port))
            bulk_p.append(bulk_mb_s(tp.port))
            m, p99 = rtt_us(port)
            rtt_d.append(m)
            p99_d.append(p99)
            m, p99 = rtt_us(tp.port)
            rtt_p.append(m)
            p99_p.append(p99)
    srv.close()
    report("bulk TCP", "MB/s", bulk_d, bulk_p)
    report("round trip, median", "us", rtt_d, rtt_p)
    report("round trip, p99", "us", p99_d, p99_p)

    with tempfile.TemporaryDirectory() as tmp, NatsServer(Path(tmp) / "nats") as nats_srv:
        asyncio.run(add_stream(nats_srv.url))
        with FaultProxy.run_in_thread("127.0.0.1", nats_srv.port) as tp:
            direct, proxied = [], []
            for _ in range(ROUNDS):
                direct.append(asyncio.run(nats_publish_msgs_s(nats_srv.url)))
                proxied.append(asyncio.run(nats_publish_msgs_s(f"nats://{tp.address}")))
    report(f"JetStream publish {NATS_MSG_BYTES // 1000} KB", "msg/s", direct, proxied)


if __name__ == "__main__":
    main()
