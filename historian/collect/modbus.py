"""Modbus TCP poller: block reads per the register map, exception filtering, forwarding.

Each poll reads every block of the plan (see :mod:`historian.collect.modbus_plan`)
over one connection, stamps all values with the poll's start time (Modbus
carries no timestamps), and passes the readings through the exception filter
to the forwarder. A failed block read marks its tags Bad with a NaN value,
once (the filter suppresses repeats), so an outage is visible in the historian
instead of being a silent gap:

* no answer (timeout, connection lost): ``BadCommunicationError``; the client
  reconnects with exponential backoff;
* an exception response (the device answered, but refused): the quality says
  why (:data:`EXCEPTION_QUALITY`: our register map does not match the device ->
  ``BadConfigurationError``; device failure -> ``BadDeviceFailure``; a gateway
  without its target -> ``BadNotConnected``; busy -> ``BadCommunicationError``),
  counted per exception code in ``PollerMetrics.exceptions``; the connection is
  kept (it works) and the block is read again at the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ModbusException

from historian.collect.exception import ExceptionFilter
from historian.collect.forwarder import BatchForwarder
from historian.collect.modbus_plan import ModbusTag, ReadBlock, build_read_plan
from historian.model import PointBatch, Quality

EXCEPTION_QUALITY: dict[int, int] = {
    ExcCodes.ILLEGAL_FUNCTION: Quality.BAD_CONFIGURATION_ERROR,
    ExcCodes.ILLEGAL_ADDRESS: Quality.BAD_CONFIGURATION_ERROR,
    ExcCodes.ILLEGAL_VALUE: Quality.BAD_CONFIGURATION_ERROR,
    ExcCodes.DEVICE_FAILURE: Quality.BAD_DEVICE_FAILURE,
    ExcCodes.MEMORY_PARITY_ERROR: Quality.BAD_DEVICE_FAILURE,
    ExcCodes.GATEWAY_PATH_UNAVIABLE: Quality.BAD_NOT_CONNECTED,
    ExcCodes.GATEWAY_NO_RESPONSE: Quality.BAD_NOT_CONNECTED,
}
"""Quality of a block's tags per Modbus exception code; any other code (acknowledge,
busy, negative acknowledge, non-standard) is ``BadCommunicationError``."""


class ModbusExceptionResponse(ModbusException):
    """The device answered a read with an exception code (it is reachable, but refused)."""

    def __init__(self, code: int, where: str) -> None:
        super().__init__(f"{where}: exception code {code:#04x}")
        self.code = code


@dataclass
class PollerMetrics:
    polls: int = 0
    block_reads: int = 0
    block_errors: int = 0
    exception_responses: int = 0
    exceptions: dict[int, int] = field(default_factory=dict)
    """Exception responses per exception code."""
    last_error: str = ""
    registers_read: int = 0
    readings: int = 0
    sent: int = 0
    reconnects: int = 0
    last_poll_s: float = 0.0
    last_data_ns: int = 0
    """When a poll last read at least one block (0: never); stale data shows here."""


class ModbusPoller:
    def __init__(
        self,
        host: str,
        port: int,
        tags: Sequence[ModbusTag],
        forwarder: BatchForwarder,
        *,
        poll_interval_s: float = 1.0,
        max_interval_s: float = 60.0,
        timeout_s: float = 2.0,
    ) -> None:
        self.host, self.port = host, port
        self.series = np.array([t.id for t in tags], dtype=np.uint32)
        self.plan: list[ReadBlock] = build_read_plan(tags)
        self.filter = ExceptionFilter(
            np.array([t.deadband for t in tags], dtype=np.float64),
            max_interval_ns=int(max_interval_s * 1e9),
        )
        self.forwarder = forwarder
        self.poll_interval_s = poll_interval_s
        self._timeout_s = timeout_s
        self._client: AsyncModbusTcpClient | None = None
        self.metrics = PollerMetrics()

    @property
    def connected(self) -> bool:
        """The TCP connection to the device is up (it may still answer nothing useful)."""
        return self._client is not None and bool(self._client.connected)

    async def _connected(self) -> AsyncModbusTcpClient:
        if self._client is not None and self._client.connected:
            return self._client
        backoff = 0.1
        while True:
            if self._client is not None:
                self._client.close()
                self.metrics.reconnects += 1
            self._client = AsyncModbusTcpClient(
                self.host,
                port=self.port,
                timeout=self._timeout_s,
                retries=0,
                reconnect_delay=0,
            )
            if await self._client.connect():
                return self._client
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def poll_once(self) -> PointBatch:
        """Read every block once; returns the admitted readings (also handed to the forwarder)."""
        client = await self._connected()
        t_ns = time.time_ns()
        n = len(self.series)
        values = np.full(n, np.nan)
        quality = np.full(n, Quality.BAD_COMMUNICATION_ERROR, dtype=np.uint16)
        reads_before = self.metrics.block_reads
        for block in self.plan:
            try:
                raw = await self._read(client, block)
            except ModbusExceptionResponse as exc:
                self.metrics.block_errors += 1
                self.metrics.exception_responses += 1
                self.metrics.exceptions[exc.code] = self.metrics.exceptions.get(exc.code, 0) + 1
                self.metrics.last_error = str(exc)
                quality[block.tag_index] = EXCEPTION_QUALITY.get(
                    exc.code, Quality.BAD_COMMUNICATION_ERROR
                )
                continue
            except (TimeoutError, ModbusException, OSError) as exc:
                self.metrics.block_errors += 1
                self.metrics.last_error = f"{type(exc).__name__}: {exc}"
                continue
            values[block.tag_index] = block.decode(raw)
            quality[block.tag_index] = Quality.GOOD
            self.metrics.block_reads += 1
            self.metrics.registers_read += block.count
        if self.metrics.block_reads > reads_before:
            self.metrics.last_data_ns = t_ns
        ts = np.full(n, t_ns, dtype=np.int64)
        keep = self.filter.admit(np.arange(n), ts, values, quality)
        batch = PointBatch(self.series[keep], ts[keep], values[keep], quality[keep], False)
        self.forwarder.add(batch)
        self.metrics.polls += 1
        self.metrics.readings += n
        self.metrics.sent += len(batch)
        self.metrics.last_poll_s = (time.time_ns() - t_ns) / 1e9
        return batch

    async def _read(self, client: AsyncModbusTcpClient, block: ReadBlock) -> list[int] | list[bool]:
        fn = {
            "holding": client.read_holding_registers,
            "input": client.read_input_registers,
            "coil": client.read_coils,
            "discrete": client.read_discrete_inputs,
        }[block.table]
        resp = await fn(block.start, count=block.count, device_id=block.unit_id)
        if resp.isError():
            where = f"unit {block.unit_id} {block.table}@{block.start}+{block.count}"
            raise ModbusExceptionResponse(int(getattr(resp, "exception_code", 0)), where)
        return list(resp.bits) if block.is_bits else list(resp.registers)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll at a fixed rate (next poll scheduled from the intended time, not the finish)."""
        next_at = time.monotonic()
        while not stop.is_set():
            try:
                await self.poll_once()
            except (TimeoutError, ModbusException, OSError):
                if self._client is not None:
                    self._client.close()
            next_at += self.poll_interval_s
            delay = next_at - time.monotonic()
            if delay < 0:  # fell behind: skip missed polls rather than burst
                next_at = time.monotonic()
                delay = 0
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        if self._client is not None:
            self._client.close()
