"""Modbus TCP server for a catalogue (slice): registers per the catalogue's register map.

Built on pymodbus 3.16's ``SimDevice``/``SimData`` (one device per unit id, with
separate coil / discrete / holding / input blocks) and updated in bulk once per
tick with ``server.async_setValues`` (one call per unit and table).

Behaviour a client sees:

- In each (unit, table) the addresses from the lowest to the highest tag register
  are readable; registers no tag owns read 0. Outside that range: exception 2
  (illegal data address). A unit id the server does not have: exception 0x0B
  (gateway target failed to respond).
- Writes: only to tags with ``writable = true``, covering whole tags (both
  registers of a float32); otherwise exception 2. A value that is NaN or outside
  the tag's ``[low, high]``: exception 3 (illegal data value). Accepted writes
  reach the model at its next tick through ``on_write``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from sim.errors import SimError
from sim.servers.registers import TABLES, TableLayout, layouts
from sim.tags import Catalogue

FloatArray = NDArray[np.float64]
# function code -> table; the read codes double as this server's own bulk-update codes
_FC_TABLE = {1: "coil", 5: "coil", 15: "coil", 2: "discrete", 3: "holding", 6: "holding",
             16: "holding", 22: "holding", 23: "holding", 4: "input"}  # fmt: skip
_CLIENT_WRITES = frozenset({5, 6, 15, 16, 22, 23})
_UPDATE_FC = {"coil": 1, "discrete": 2, "holding": 3, "input": 4}
WriteHandler = Callable[[int, float], int]  # (tag index, value) -> write sequence number


@dataclass
class ModbusStats:
    writes_accepted: int = 0
    writes_refused: int = 0
    updates: int = 0
    registers_updated: int = 0
    refused: list[tuple[int, int, int, int]] = field(default_factory=list)  # unit, fc, addr, code


class ModbusTwinServer:
    """A pymodbus TCP server exposing the tags of ``catalogue``."""

    def __init__(
        self,
        catalogue: Catalogue,
        on_write: WriteHandler | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.catalogue = catalogue
        self.tags = catalogue.tags
        self.on_write = on_write
        self.host = host
        self.port = port
        self.layouts = layouts(self.tags)
        self.stats = ModbusStats()
        n = len(self.tags)
        self._published = np.full(n, np.nan)
        self._client_seq = np.zeros(n, dtype=np.int64)  # last client write per tag
        self._held = np.full(n, np.nan)  # last emitted measurement per tag
        self.writable_mask = np.array([t.writable for t in self.tags], dtype=bool)
        self._server: ModbusTcpServer | None = None

    # ---------------------------------------------------------------- devices

    def _devices(self) -> list[SimDevice]:
        devices = []
        for unit in self.catalogue.unit_ids():
            blocks: list[list[SimData]] = []
            for table in TABLES:
                lay = self.layouts.get((unit, table))
                blocks.append([_block(lay, table)])
            devices.append(
                SimDevice(
                    id=unit,
                    simdata=(blocks[0], blocks[1], blocks[2], blocks[3]),
                    action=functools.partial(self._action, unit),
                )
            )
        devices.append(
            SimDevice(
                id=0,  # pymodbus routes unknown unit ids here
                # the whole address space is "valid" so the action can answer 0x0B
                simdata=(
                    [_bits(0, 65536)],
                    [_bits(0, 65536)],
                    [_regs(0, 65536)],
                    [_regs(0, 65536)],
                ),
                action=_no_such_unit,
            )
        )
        return devices

    async def _action(
        self,
        unit: int,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        current_registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        table = _FC_TABLE.get(function_code)
        if table is None:
            return ExcCodes.ILLEGAL_FUNCTION
        lay = self.layouts.get((unit, table))
        if lay is None:  # placeholder block of an empty table
            return self._refuse(unit, function_code, address, ExcCodes.ILLEGAL_ADDRESS)
        if set_values is None or function_code not in _CLIENT_WRITES:
            return None  # reads, and this server's own bulk updates
        return self._client_write(lay, function_code, address, list(set_values))

    def _client_write(
        self, lay: TableLayout, fc: int, address: int, values: list[int] | list[bool]
    ) -> ExcCodes | None:
        unit = lay.unit_id
        positions: dict[int, int] = {}  # tag position -> offset of its first register in values
        for k in range(len(values)):
            pos = lay.owner.get(address + k)
            if pos is None or not lay.writable[pos]:
                return self._refuse(unit, fc, address, ExcCodes.ILLEGAL_ADDRESS)
            first = int(lay.address[pos])
            if first < address or first + lay.width(pos) > address + len(values):
                return self._refuse(unit, fc, address, ExcCodes.ILLEGAL_ADDRESS)
            positions.setdefault(pos, first - address)
        decoded = []
        for pos, off in positions.items():
            value = lay.decode(pos, values[off : off + lay.width(pos)])
            tag = self.tags[int(lay.tag_index[pos])]
            if not (tag.low <= value <= tag.high):
                return self._refuse(unit, fc, address, ExcCodes.ILLEGAL_VALUE)
            decoded.append((int(lay.tag_index[pos]), value))
        for i, value in decoded:
            seq = 0
            if self.on_write is not None:
                try:
                    seq = self.on_write(i, value)
                except SimError:
                    return self._refuse(unit, fc, address, ExcCodes.ILLEGAL_VALUE)
            self._client_seq[i] = seq
            self._published[i] = value
            self.stats.writes_accepted += 1
        return None

    def _refuse(self, unit: int, fc: int, address: int, code: ExcCodes) -> ExcCodes:
        self.stats.writes_refused += fc in _CLIENT_WRITES
        if len(self.stats.refused) < 1000:
            self.stats.refused.append((unit, fc, address, int(code)))
        return code

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> int:
        """Listen (port 0 = any free port); returns the bound port."""
        self._server = ModbusTcpServer(self._devices(), address=(self.host, self.port))
        await self._server.serve_forever(background=True)
        sockets = self._server.transport.sockets  # type: ignore[attr-defined]
        self.port = int(sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None

    @property
    def endpoint(self) -> str:
        return f"modbus://{self.host}:{self.port}"

    # ---------------------------------------------------------------- updates

    async def publish(
        self,
        values: FloatArray,
        applied_write_seq: int = 0,
        emit: NDArray[np.bool_] | None = None,
    ) -> None:
        """Write one tick of catalogue-ordered values into the registers.

        Measurements: the whole (unit, table) range in one call; a tag without a
        sample this tick (``emit`` False: a sensor dropout) keeps its last value.
        Setpoints: only those the twin itself changed, and never over a client
        write the twin has not applied yet.
        """
        srv = self._server
        if srv is None:
            raise RuntimeError("publish() before start()")
        if emit is not None:
            first = np.isnan(self._held)
            take = emit | first
            self._held[take] = values[take]
            values = np.where(self.writable_mask, values, self._held)
        for (unit, table), lay in self.layouts.items():
            fc = _UPDATE_FC[table]
            if not lay.writable.any():
                await srv.async_setValues(unit, fc, lay.lo, lay.image(values))
                self.stats.registers_updated += lay.hi - lay.lo + 1
                continue
            idx = lay.tag_index
            v = values[idx]
            changed = (v != self._published[idx]) & (self._client_seq[idx] <= applied_write_seq)
            for pos in np.flatnonzero(changed):
                i = int(idx[pos])
                await srv.async_setValues(
                    unit, fc, int(lay.address[pos]), lay.words_of(int(pos), float(values[i]))
                )
                self._published[i] = values[i]
                self.stats.registers_updated += lay.width(int(pos))
        self.stats.updates += 1


def _regs(address: int, count: int, valid: bool = True) -> SimData:
    if not valid:
        return SimData(address=address, count=count, datatype=DataType.INVALID)
    return SimData(address=address, count=count, values=0, datatype=DataType.REGISTERS)


def _bits(address: int, count: int) -> SimData:
    # one SimData with a list: pymodbus multiplies bit blocks by `count` twice
    return SimData(address=address, values=[False] * count, datatype=DataType.BITS)


def _block(lay: TableLayout | None, table: str) -> SimData:
    bits = table in ("coil", "discrete")
    if lay is None:  # pymodbus needs a block per table; the action refuses it
        return _bits(0, 16) if bits else _regs(0, 1, valid=False)
    n = lay.hi - lay.lo + 1
    return _bits(lay.lo, n) if bits else _regs(lay.lo, n)


async def _no_such_unit(
    function_code: int,
    start_address: int,
    address: int,
    count: int,
    current_registers: list[int],
    set_values: list[int] | list[bool] | None,
) -> ExcCodes:
    return ExcCodes.GATEWAY_NO_RESPONSE
