"""`twinbench services`: start the embedded service stack (nats-server, S3, PostgreSQL)."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import structlog
import typer

from harness.config import ConfigError, TwinbenchConfig, load_config
from harness.logging import configure_logging

app = typer.Typer(
    help="Start the embedded service stack (nats-server, S3, PostgreSQL).", no_args_is_help=True
)
log = structlog.get_logger("harness.services")


def _load(config: Path | None) -> TwinbenchConfig:
    if config is None:
        return TwinbenchConfig()
    try:
        return load_config(config)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command("up")
def up(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML config (docs/config.md)")
    ] = None,
    base_dir: Annotated[
        Path | None,
        typer.Option(
            "--base-dir",
            "--work-dir",
            help="Directory for logs and data (default: a temp dir)",
        ),
    ] = None,
    nats_cluster_size: Annotated[
        int | None, typer.Option(help="Embedded NATS nodes: 1 or 3 (overrides the config)")
    ] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING, ...")] = "INFO",
    log_json: Annotated[bool, typer.Option("--log-json/--log-console")] = True,
    duration_s: Annotated[
        float | None,
        typer.Option(
            "--duration-s",
            "--seconds",
            help="Stop after this many seconds (default: until Ctrl-C)",
        ),
    ] = None,
) -> None:
    """Start every embedded service of the config, print endpoints as JSON, wait for Ctrl-C."""
    from dataclasses import replace

    from harness.services import EmbeddedStack, ServiceError

    configure_logging(log_level, json=log_json)
    cfg = _load(config)
    if nats_cluster_size is not None:
        if nats_cluster_size not in (1, 3, 5):
            typer.echo("error: --nats-cluster-size must be 1, 3 or 5", err=True)
            raise typer.Exit(2)
        cfg = replace(cfg, nats=replace(cfg.nats, cluster_size=nats_cluster_size))

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # Ctrl-C and SIGTERM (a supervisor) both shut the stack down in order. SIGINT
    # is handled explicitly because a shell's background job inherits it ignored.
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with EmbeddedStack.from_config(cfg, base_dir) as stack:
            endpoints = stack.endpoints.as_dict()
            log.info("stack_up", pids=stack.pids, logs=[str(p) for p in stack.log_paths])
            typer.echo(json.dumps(endpoints, indent=2))
            stop.wait(duration_s)
            log.info("stack_stopping", pids=stack.pids)
    except ServiceError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("stack_stopped")


@app.command("check-config")
def check_config(path: Annotated[Path, typer.Argument(help="TOML config file")]) -> None:
    """Validate a config file and print what it resolves to."""
    from dataclasses import asdict

    cfg = _load(path)
    typer.echo(json.dumps(asdict(cfg), indent=2, default=str))
