"""Real server processes: start, endpoints, reads over both protocols, emitted log, stop by PID."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from asyncua.client.client import Client
from pymodbus.client import AsyncModbusTcpClient

from sim.catalogue_gen import generate_oilfield
from sim.emitted import read_emitted
from sim.servers.launch import ServerStartError, plan_slices, start_servers, stop_servers
from sim.tags import Catalogue, dump_catalogue
from tests.opcua_fields import status_of

pytestmark = pytest.mark.slow


def test_plan_slices_keep_units_whole() -> None:
    cat = generate_oilfield(450)
    assert plan_slices(cat, 2000) == [(0, 2000), (2000, 4000), (4000, 4500)]
    assert plan_slices(cat, 500) == [(0, 1000), (1000, 2000), (2000, 3000), (3000, 4000),
                                     (4000, 4500)]  # fmt: skip
    assert plan_slices(generate_oilfield(10), 2000) == [(0, 100)]


async def test_two_processes_serve_their_slices(tmp_path: Path) -> None:
    cat = generate_oilfield(150, seed=2)
    path = tmp_path / "cat.toml"
    dump_catalogue(cat, path)
    procs = await asyncio.to_thread(
        start_servers, path, speed=20.0, tags_per_process=1000, workdir=tmp_path,
        record_emitted=True, seed=2,
    )  # fmt: skip
    try:
        assert [p.tag_range for p in procs] == [(0, 1000), (1000, 1500)]
        assert [p.unit_ids for p in procs] == [[1], [2]]
        assert procs[1].info["first_id"] == 1001
        for p in procs:
            c = AsyncModbusTcpClient(p.modbus_host, port=p.modbus_port)
            assert await c.connect()
            r = await c.read_input_registers(0, count=14, device_id=p.unit_ids[0])
            assert not r.isError() and any(r.registers)
            c.close()
        endpoint = procs[1].opcua_endpoint
        assert endpoint is not None
        async with Client(endpoint) as ua_client:
            node = ua_client.get_node(
                "ns=2;s=acme.permian.field_02.pad_01.well_0101.esp.motor_current"
            )
            assert status_of(await node.read_data_value()).is_good()
        await asyncio.sleep(1.0)
    finally:
        # a clean exit within a deadline a loaded 2-core machine meets (at load 12-16 a
        # plant took >10 s, the command's default grace, and got SIGKILLed: exit -9)
        codes = await asyncio.to_thread(stop_servers, procs, 60.0)
    assert codes == [0, 0]
    for p in procs:
        assert p.emitted_path is not None
        batch = read_emitted(p.emitted_path)
        ids = np.unique(batch.series)
        assert len(batch) > 0
        assert (
            ids.min() >= cat.tags[p.tag_range[0]].id
            and ids.max() <= cat.tags[p.tag_range[1] - 1].id
        )


def test_start_failure_is_reported(tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text('format = "twinbench-catalogue"\nversion = 1\n')
    with pytest.raises(ValueError, match="no tags"):
        start_servers(empty, workdir=tmp_path)
    # a valid catalogue the oil-field twin has no model for: the child exits, we get its log
    cat = generate_oilfield(1)
    tag = replace(cat.tags[0], path="acme.site.area.line.cell_1.pump.current")
    odd = tmp_path / "odd.toml"
    dump_catalogue(Catalogue((tag,)), odd)
    with pytest.raises(ServerStartError, match="not 'well_NNNN'"):
        start_servers(odd, workdir=tmp_path, ready_timeout=60)


def test_a_ctrl_c_before_the_serving_loop_still_stops_the_servers(tmp_path: Path) -> None:
    """`sim serve`/`replay`: a KeyboardInterrupt between start and the signal handlers."""
    from sim.cli import _stopped_on_escape

    path = tmp_path / "cat.toml"
    dump_catalogue(generate_oilfield(10, seed=3), path)
    procs = start_servers(path, speed=1.0, workdir=tmp_path)
    assert procs and all(p.alive() for p in procs)
    with pytest.raises(KeyboardInterrupt), _stopped_on_escape(procs):
        raise KeyboardInterrupt
    assert not any(p.alive() for p in procs)
