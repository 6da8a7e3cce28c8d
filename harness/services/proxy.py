"""The asyncio TCP fault proxy and its thread-hosted variant.

A service, not a fault: scenarios reach it through :mod:`harness.faults`, which
re-exports it, and the edge bus (:mod:`harness.services.edge`) puts one on its
uplink. Kept under ``services`` so that ``services`` never imports ``faults``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
from types import TracebackType
from typing import Self

from harness.services.proxy_modes import (
    Bandwidth,
    Blackhole,
    FaultMode,
    Latency,
    ProxyStats,
    Refuse,
    Reset,
    SlowClose,
    Stall,
    coerce_mode,
)

__all__ = ["FaultProxy", "ThreadedFaultProxy"]


def _abort_with_rst(writer: asyncio.StreamWriter) -> None:
    # SO_LINGER 0 makes close() send RST instead of FIN: the peer sees ECONNRESET.
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Connection:
    def __init__(self, client: asyncio.StreamWriter, upstream: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream = upstream
        self.tasks: list[asyncio.Task[None]] = []

    def reset(self) -> None:
        _abort_with_rst(self.client)
        _abort_with_rst(self.upstream)
        for task in self.tasks:
            task.cancel()


class FaultProxy:
    """TCP proxy 127.0.0.1:<port> -> upstream, with a fault mode switchable at runtime."""

    CHUNK = 64 * 1024
    QUEUE_CHUNKS = 64  # per direction: bounds memory and passes back-pressure on

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
        mode: FaultMode | str = "pass",
        seed: int | None = None,
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.listen = (listen_host, listen_port)
        self._mode = coerce_mode(mode)
        self._rng = random.Random(seed)
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conns: set[_Connection] = set()
        self._mode_changed: asyncio.Event | None = None
        self.stats = ProxyStats()

    @property
    def host(self) -> str:
        return self.listen[0]

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FaultProxy: not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def address(self) -> str:
        """`host:port` to give clients instead of the upstream's."""
        return f"{self.host}:{self.port}"

    @property
    def mode(self) -> FaultMode:
        return self._mode

    @property
    def connection_count(self) -> int:
        return len(self._conns)

    async def start(self) -> Self:
        self._loop = asyncio.get_running_loop()
        self._mode_changed = asyncio.Event()
        self._server = await asyncio.start_server(self._on_client, *self.listen)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for conn in list(self._conns):
                conn.reset()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def set_mode(self, mode: FaultMode | str) -> None:
        """Switch mode from inside the proxy's event loop."""
        self._apply(coerce_mode(mode))
        await asyncio.sleep(0)

    def set_mode_sync(self, mode: FaultMode | str, timeout_s: float = 5.0) -> None:
        """Switch mode from any thread (or synchronously from the loop's own thread)."""
        checked = coerce_mode(mode)
        loop = self._loop
        if loop is None:
            self._mode = checked  # not started yet: takes effect at start
            return
        try:
            in_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            in_loop = False
        if in_loop:
            self._apply(checked)
            return
        done = threading.Event()

        def apply() -> None:
            try:
                self._apply(checked)
            finally:
                done.set()

        loop.call_soon_threadsafe(apply)
        if not done.wait(timeout_s):
            raise TimeoutError(
                f"FaultProxy event loop did not apply {checked} within {timeout_s} s"
            )

    def _apply(self, mode: FaultMode) -> None:
        self._mode = mode
        if isinstance(mode, Reset):
            for conn in list(self._conns):
                conn.reset()
                self.stats.reset += 1
        # Wake pumps waiting out a Stall; the next waiters get a fresh event.
        assert self._mode_changed is not None
        self._mode_changed.set()
        self._mode_changed = asyncio.Event()

    async def _wait_while_stalled(self) -> None:
        while isinstance(self._mode, Stall):
            assert self._mode_changed is not None
            await self._mode_changed.wait()

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        mode = self._mode
        if isinstance(mode, Refuse):
            self.stats.refused += 1
            writer.close()
            return
        if isinstance(mode, Reset):
            self.stats.reset += 1
            _abort_with_rst(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            # Upstream down: the client sees what it would see without the proxy, a reset.
            _abort_with_rst(writer)
            return
        self.stats.accepted += 1
        conn = _Connection(writer, up_writer)
        self._conns.add(conn)
        conn.tasks = [
            asyncio.create_task(self._pipe(reader, up_writer)),
            asyncio.create_task(self._pipe(up_reader, writer)),
        ]
        try:
            await asyncio.gather(*conn.tasks, return_exceptions=True)
        finally:
            self._conns.discard(conn)
            for w in (writer, up_writer):
                w.close()

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        """One direction: a reader stamping due times, a writer honouring them."""
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(self.QUEUE_CHUNKS)
        sender = asyncio.create_task(self._send(queue, dst))
        loop = asyncio.get_running_loop()
        last_due = 0.0
        try:
            while True:
                try:
                    data = await src.read(self.CHUNK)
                except (ConnectionError, OSError):
                    _abort_with_rst(dst)  # pass a reset on
                    return
                if not data:
                    break
                mode = self._mode
                if isinstance(mode, Blackhole):
                    self.stats.bytes_dropped += len(data)
                    continue
                due = loop.time()
                if isinstance(mode, Latency):
                    jitter = self._rng.uniform(-mode.jitter_s, mode.jitter_s)
                    due += max(0.0, mode.delay_s + jitter)
                # TCP delivers in order: a chunk never overtakes the one before it.
                due = max(due, last_due)
                last_due = due
                await queue.put((due, data))
            await queue.put(None)
            await sender
        finally:
            sender.cancel()

    async def _send(
        self, queue: asyncio.Queue[tuple[float, bytes] | None], dst: asyncio.StreamWriter
    ) -> None:
        loop = asyncio.get_running_loop()
        next_free = 0.0  # bandwidth cap: when the link is free for the next byte
        while True:
            item = await queue.get()
            if item is None:
                if isinstance(self._mode, SlowClose):
                    await asyncio.sleep(self._mode.delay_s)
                with contextlib.suppress(OSError, RuntimeError):
                    if dst.can_write_eof():
                        dst.write_eof()
                return
            due, data = item
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            await self._wait_while_stalled()
            mode = self._mode
            if isinstance(mode, Blackhole):  # switched while this chunk was queued
                self.stats.bytes_dropped += len(data)
                continue
            try:
                if isinstance(mode, Bandwidth):
                    # Slices of ~20 ms worth of bytes keep the rate smooth at any cap.
                    step = max(1, int(mode.bytes_per_s / 50))
                    for i in range(0, len(data), step):
                        piece = data[i : i + step]
                        now = loop.time()
                        next_free = max(next_free, now)
                        if next_free > now:
                            await asyncio.sleep(next_free - now)
                        dst.write(piece)
                        await dst.drain()
                        next_free += len(piece) / mode.bytes_per_s
                else:
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                return
            self.stats.bytes_forwarded += len(data)

    @classmethod
    def run_in_thread(
        cls, upstream_host: str, upstream_port: int, **kwargs: object
    ) -> ThreadedFaultProxy:
        """Start a proxy on its own event loop in a daemon thread (for sync callers)."""
        return ThreadedFaultProxy(cls(upstream_host, upstream_port, **kwargs)).start()  # type: ignore[arg-type]


class ThreadedFaultProxy:
    """A FaultProxy running on a private event loop thread; all methods are sync."""

    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fault-proxy", daemon=True
        )

    def start(self) -> Self:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.proxy.start(), self._loop).result(10)
        return self

    @property
    def port(self) -> int:
        return self.proxy.port

    @property
    def host(self) -> str:
        return self.proxy.host

    @property
    def address(self) -> str:
        return self.proxy.address

    @property
    def mode(self) -> FaultMode:
        return self.proxy.mode

    @property
    def stats(self) -> ProxyStats:
        return self.proxy.stats

    def set_mode(self, mode: FaultMode | str) -> None:
        self.proxy.set_mode_sync(mode)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self.proxy.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
