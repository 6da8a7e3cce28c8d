"""FaultProxy modes against a real echo server over real loopback sockets, and NATS through it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import psutil
import pytest
from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription

from harness.faults import (
    Bandwidth,
    FaultProxy,
    Latency,
    NotOurProcessError,
    SlowClose,
    kill,
    pause,
    paused,
    resume,
)
from harness.services import ManagedProcess, NatsServer


class EchoServer:
    """Echoes every byte; closes its side when the client half-closes."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()


@pytest.fixture
async def proxy() -> AsyncIterator[FaultProxy]:
    echo = EchoServer()
    port = await echo.start()
    async with FaultProxy("127.0.0.1", port, seed=1) as p:
        yield p
    await echo.stop()


async def connect(p: FaultProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(p.host, p.port)


async def roundtrip(
    r: asyncio.StreamReader, w: asyncio.StreamWriter, data: bytes, timeout: float = 5
) -> bytes:
    w.write(data)
    await w.drain()
    return await asyncio.wait_for(r.readexactly(len(data)), timeout)


async def test_pass_forwards_large_payload_intact(proxy: FaultProxy) -> None:
    r, w = await connect(proxy)
    payload = os.urandom(2 * 1024 * 1024)
    reply, _ = await asyncio.gather(r.readexactly(len(payload)), _send(w, payload))
    assert reply == payload
    w.close()


async def _send(w: asyncio.StreamWriter, data: bytes) -> None:
    w.write(data)
    await w.drain()


async def test_latency_adds_delay_each_way_and_keeps_order(proxy: FaultProxy) -> None:
    r, w = await connect(proxy)
    await roundtrip(r, w, b"warm")
    await proxy.set_mode(Latency(0.3, jitter_s=0.05))
    start = time.monotonic()
    # Many small writes with jitter: TCP order must hold anyway.
    msgs = [f"{i:04d}".encode() for i in range(200)]
    for m in msgs:
        w.write(m)
        await asyncio.sleep(0)
    got = await asyncio.wait_for(r.readexactly(4 * len(msgs)), 10)
    elapsed = time.monotonic() - start
    assert got == b"".join(msgs)
    assert elapsed >= 2 * (0.3 - 0.05)  # delay applies on the way there and back
    await proxy.set_mode("pass")
    start = time.monotonic()
    await roundtrip(r, w, b"fast")
    assert time.monotonic() - start < 0.25  # latency gone: well under one 0.5 s round trip
    w.close()


async def test_bandwidth_cap_limits_throughput(proxy: FaultProxy) -> None:
    rate = 400_000  # bytes/s
    await proxy.set_mode(Bandwidth(rate))
    r, w = await connect(proxy)
    payload = os.urandom(200_000)
    start = time.monotonic()
    reply, _ = await asyncio.gather(
        asyncio.wait_for(r.readexactly(len(payload)), 10), _send(w, payload)
    )
    elapsed = time.monotonic() - start
    assert reply == payload
    # Both directions are capped but pipelined: at least one full pass at the cap.
    assert elapsed >= 0.9 * len(payload) / rate
    w.close()


async def test_blackhole_swallows_both_ways_keeps_connection_open_and_heals(
    proxy: FaultProxy,
) -> None:
    r, w = await connect(proxy)
    await roundtrip(r, w, b"before")
    await proxy.set_mode("blackhole")
    w.write(b"lost")
    await w.drain()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(r.read(1), 0.5)
    assert not r.at_eof()
    # New connections are accepted but nothing comes back either.
    r2, w2 = await connect(proxy)
    with pytest.raises(TimeoutError):
        await roundtrip(r2, w2, b"x", timeout=0.3)
    assert proxy.stats.bytes_dropped >= len(b"lost") + 1
    await proxy.set_mode("pass")
    assert await roundtrip(r, w, b"after") == b"after"  # "lost" is gone for good
    w.close()
    w2.close()


async def test_stall_holds_bytes_and_delivers_them_on_heal(proxy: FaultProxy) -> None:
    r, w = await connect(proxy)
    await proxy.set_mode("stall")
    w.write(b"held")
    await w.drain()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(r.readexactly(4), 0.4)
    await proxy.set_mode("pass")
    assert await asyncio.wait_for(r.readexactly(4), 2) == b"held"
    w.close()


async def test_reset_sends_rst_to_existing_and_new_connections(proxy: FaultProxy) -> None:
    r, w = await connect(proxy)
    await roundtrip(r, w, b"ok")
    await proxy.set_mode("reset")
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(r.read(1), 2)
    r2, w2 = await connect(proxy)
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(roundtrip(r2, w2, b"x"), 2)
    assert proxy.connection_count == 0
    await proxy.set_mode("pass")
    r3, w3 = await connect(proxy)
    assert await roundtrip(r3, w3, b"back") == b"back"
    for writer in (w, w2, w3):
        writer.close()


async def test_refuse_closes_new_connections_but_keeps_existing(proxy: FaultProxy) -> None:
    r, w = await connect(proxy)
    await roundtrip(r, w, b"1")
    await proxy.set_mode("refuse")
    r2, w2 = await connect(proxy)
    assert await asyncio.wait_for(r2.read(1), 2) == b""  # EOF at once
    assert await roundtrip(r, w, b"still") == b"still"
    assert proxy.stats.refused == 1
    w.close()
    w2.close()


async def test_slow_close_delays_close_propagation(proxy: FaultProxy) -> None:
    delay = 0.4
    r, w = await connect(proxy)
    await roundtrip(r, w, b"hi")
    await proxy.set_mode(SlowClose(delay))
    start = time.monotonic()
    w.write_eof()  # echo server sees EOF only after `delay`, then closes back
    assert await asyncio.wait_for(r.read(), 5) == b""
    assert time.monotonic() - start >= delay
    w.close()


def test_run_in_thread_drives_blocking_clients_and_switches_modes() -> None:
    with socket.create_server(("127.0.0.1", 0)) as upstream:
        port = upstream.getsockname()[1]
        with FaultProxy.run_in_thread("127.0.0.1", port) as tp:
            client = socket.create_connection(("127.0.0.1", tp.port), timeout=2)
            conn, _ = upstream.accept()
            with client, conn:
                client.sendall(b"ping")
                assert conn.recv(4) == b"ping"
                tp.set_mode("blackhole")  # from this (non-loop) thread
                client.sendall(b"gone")
                conn.settimeout(0.3)
                with pytest.raises(TimeoutError):
                    conn.recv(4)
                tp.set_mode("pass")
                client.sendall(b"back")
                conn.settimeout(2)
                assert conn.recv(4) == b"back"
    assert not tp._thread.is_alive()


def test_invalid_modes_are_rejected() -> None:
    proxy = FaultProxy("127.0.0.1", 1)
    with pytest.raises(ValueError, match="unknown fault mode"):
        proxy.set_mode_sync("partition")
    with pytest.raises(ValueError, match="bandwidth"):
        proxy.set_mode_sync(Bandwidth(0))


async def _until_delivered(
    nc: NATS, sub: Subscription, data: bytes, within_s: float
) -> list[bytes]:
    """Publish `data` until it comes back on `sub`; return everything received meanwhile."""
    seen: list[bytes] = []
    deadline = time.monotonic() + within_s
    while True:
        try:
            await nc.publish("t.b", data)
            while True:
                msg = await sub.next_msg(timeout=0.3)
                seen.append(msg.data)
                if msg.data == data:
                    return seen
        except (nats.errors.TimeoutError, nats.errors.ConnectionReconnectingError):
            pass
        assert time.monotonic() < deadline, f"{data!r} never delivered after heal"


@pytest.mark.service
async def test_nats_through_proxy_blackhole_stalls_and_heal_resumes(
    nats_server: NatsServer,
) -> None:
    disconnected, reconnected = asyncio.Event(), asyncio.Event()

    async def on_disconnect() -> None:
        disconnected.set()

    async def on_reconnect() -> None:
        reconnected.set()

    async with FaultProxy("127.0.0.1", nats_server.port) as proxy:
        nc = await nats.connect(
            f"nats://{proxy.address}",
            ping_interval=0.5,
            max_outstanding_pings=2,
            reconnect_time_wait=0.2,
            max_reconnect_attempts=-1,
            connect_timeout=1,
            disconnected_cb=on_disconnect,
            reconnected_cb=on_reconnect,
        )
        try:
            sub = await nc.subscribe("t.>")
            await nc.publish("t.a", b"1")
            assert (await sub.next_msg(timeout=2)).data == b"1"

            # Short blackhole: stalled, and what was sent into it is gone for good.
            await proxy.set_mode("blackhole")
            await nc.publish("t.a", b"2")
            with pytest.raises(nats.errors.TimeoutError):
                await nc.flush(timeout=1)  # PING never answered
            await proxy.set_mode("pass")
            seen = await _until_delivered(nc, sub, b"3", within_s=15)
            assert b"2" not in seen
            # (Phase one may or may not have outlived the stale-link detection.)
            disconnected.clear()
            reconnected.clear()

            # Long blackhole: the client declares the link stale and keeps trying
            # (each new connection's INFO is swallowed); the heal lets it back in.
            await proxy.set_mode("blackhole")
            await asyncio.wait_for(disconnected.wait(), 10)
            await asyncio.sleep(1.5)  # reconnect attempts (1 s connect timeout) must fail
            assert not reconnected.is_set()
            await proxy.set_mode("pass")
            await asyncio.wait_for(reconnected.wait(), 10)
            await _until_delivered(nc, sub, b"4", within_s=15)
            assert nc.stats["reconnects"] >= 1
        finally:
            await nc.close()


def test_process_faults_pause_resume_kill_only_our_processes(tmp_path: Path) -> None:
    proc = ManagedProcess(
        "sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "s.log"
    )
    proc.start()
    try:
        ps = psutil.Process(proc.pid)
        pause(proc.pid)
        _wait_status(ps, psutil.STATUS_STOPPED)
        resume(proc.pid)
        _wait_status(ps, psutil.STATUS_SLEEPING, psutil.STATUS_RUNNING)
        with paused(proc.pid):
            _wait_status(ps, psutil.STATUS_STOPPED)
        _wait_status(ps, psutil.STATUS_SLEEPING, psutil.STATUS_RUNNING)
        with pytest.raises(NotOurProcessError):
            kill(os.getppid())
        with pytest.raises(NotOurProcessError):
            pause(1)
        kill(proc.pid, signal.SIGKILL)
        proc.stop()
        assert proc.returncode == -signal.SIGKILL
    finally:
        proc.stop()


def _wait_status(ps: psutil.Process, *wanted: str) -> None:
    deadline = time.monotonic() + 5
    while ps.status() not in wanted:
        assert time.monotonic() < deadline, f"status {ps.status()} not in {wanted}"
        time.sleep(0.02)
