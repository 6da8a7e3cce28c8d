"""``twinbench pipeline up``: plant servers -> collectors -> nats-server -> historian, live.

Starts everything on loopback in a work directory, prints the endpoints, then a
status line every few seconds (points per second that became queryable, per
collector, the queryable lag in seconds, the consumer lag; harness/cli/pipeline_status.py)
until Ctrl-C, when it stops every process it started, by PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import tempfile
import time
from pathlib import Path

import typer
from rich.console import Console

app = typer.Typer(help="Run the collector -> NATS -> historian pipeline.", no_args_is_help=True)
console = Console(stderr=True)


async def _up(
    profile: str,
    work: Path,
    seconds: float | None,
    status_every: float,
    durability: str,
    nats_sync_interval: str | None,
) -> None:
    import nats
    from nats.aio.msg import Msg

    from harness.cli.pipeline_status import PipelineStatus
    from harness.plant.plant_load import PlantLoad
    from harness.run.scenario_stack import ScenarioStack
    from historian.bus.options import BusOptions
    from historian.ingest.service import APPLIED_PREFIX

    stack = ScenarioStack(
        work,
        proxy_collector=False,
        proxy_historian=False,
        durability=durability,
        nats_sync_interval=nats_sync_interval,
    )
    plant = PlantLoad(work / "plant", profile, seed=0)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        console.print(f"starting nats-server and the historian in {work}")
        await stack.start()
        console.print(f"starting the {profile} plant (servers + collectors)")
        await asyncio.to_thread(plant.start, stack.nats.url)
        console.print(f"nats:      {stack.nats.url}")
        assert stack.ingest is not None
        console.print(
            f"historian: {stack.ingest.data_dir} (PID {stack.ingest.pid}, "
            f"`twinbench historian serve`; {stack.durability_note()})"
        )
        console.print(
            "query the store: after Ctrl-C, `twinbench historian inspect "
            f"{stack.ingest.data_dir}` (the running server holds its lock)"
        )
        for s in plant.servers:
            console.print(
                f"sim-{s.index}: tags {s.tag_range[0]}..{s.tag_range[1] - 1}  "
                f"modbus {s.modbus_host}:{s.modbus_port}  opcua {s.opcua_endpoint}"
            )
        for c in plant.collectors:
            console.print(f"collector-{c.index}: {c.protocol} (PID {c.process.pid})")
        console.print("[bold]running[/]: Ctrl-C stops everything")
        nc = await nats.connect(stack.nats.url)
        js = nc.jetstream()
        opts = BusOptions()
        status = PipelineStatus()

        async def on_notice(msg: Msg) -> None:
            status.add_message(msg.data)

        await nc.subscribe(f"{APPLIED_PREFIX}.>", cb=on_notice)
        started = time.monotonic()
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), status_every)
            if seconds is not None and time.monotonic() - started >= seconds:
                break
            lag: int | None = None
            with contextlib.suppress(Exception):  # the consumer appears with the first fetch
                info = await js.consumer_info(opts.stream, opts.consumer_name(0))
                lag = int(info.num_pending or 0) + int(info.num_ack_pending or 0)
            console.print(
                f"[{time.strftime('%H:%M:%S')}] {time.monotonic() - started:6.0f} s | "
                + status.line(lag),
                highlight=False,
            )
        console.print(f"{status.total_points:,} points queryable in total")
        await nc.close()
    finally:
        console.print("stopping plant, collectors, historian and nats-server")
        await asyncio.to_thread(plant.stop)
        await stack.close()
        if stack.ingest is not None:
            console.print(f"store kept: twinbench historian inspect {stack.ingest.data_dir}")


@app.command("up")
def up(
    profile: str = typer.Option("normal", help="normal | peak | stress"),
    work_dir: Path | None = typer.Option(
        None, "--work-dir", "--base-dir", help="keep data here (default: a temp dir)"
    ),
    seconds: float | None = typer.Option(
        None, "--seconds", "--duration-s", help="stop by itself after this long"
    ),
    status_every: float = typer.Option(5.0, help="seconds between status lines"),
    durability: str = typer.Option(
        "fsync", help="fsync: ack after the WAL fsync (default) | os: ack once written to the OS"
    ),
    nats_sync_interval: str | None = typer.Option(
        None, help="JetStream sync_interval: always | 1s | ... (default: the server's 2m)"
    ),
) -> None:
    """Start the whole pipeline on loopback and show live rates until Ctrl-C."""
    from sim.catalogue_gen import PROFILES

    # validate everything before anything starts or any directory is made
    if profile not in PROFILES:
        typer.echo(
            f"error: --profile must be one of {', '.join(PROFILES)}, not {profile!r}", err=True
        )
        raise typer.Exit(2)
    if durability not in ("fsync", "os"):
        typer.echo(f"error: --durability must be fsync or os, not {durability!r}", err=True)
        raise typer.Exit(2)
    if (seconds is not None and not seconds > 0) or not status_every > 0:
        typer.echo("error: --seconds and --status-every must be positive", err=True)
        raise typer.Exit(2)
    work = work_dir or Path(tempfile.mkdtemp(prefix="twinbench-pipeline-"))
    asyncio.run(_up(profile, work, seconds, status_every, durability, nats_sync_interval))
