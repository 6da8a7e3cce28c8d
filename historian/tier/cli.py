"""``twinbench historian tier status | export-now | verify`` on a stopped store.

Settings come from ``--config FILE`` (its ``[tier]`` table, docs/config.md),
then the options given here override them. Exit codes: 0 fine, 1 verify found
a problem, 2 usage error (bad setting, store held by a running server,
unreachable endpoint), each with one line saying what to do.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import typer

from historian.errors import HistorianError
from historian.lsm.engine import Historian
from historian.options import Options

from .config import TierConfig, TierConfigError, parse_duration
from .tier import ColdTier

app = typer.Typer(
    help="The cold tier: Parquet on S3 (status, export-now, verify).", no_args_is_help=True
)

ConfigOpt = typer.Option(None, "--config", help="TOML file with a [tier] table")
EndpointOpt = typer.Option(None, "--endpoint", help="S3 endpoint URL (overrides the config)")
BucketOpt = typer.Option(None, "--bucket", help="bucket (overrides the config)")
PrefixOpt = typer.Option(None, "--prefix", help="key prefix (overrides the config)")
KeyOpt = typer.Option(
    None,
    "--encryption-key",
    help="key file of an encrypted store (historian serve --encryption-key)",
)


def _config(
    config: str | None, endpoint: str | None, bucket: str | None, prefix: str | None
) -> TierConfig:
    cfg = TierConfig.load(config) if config else TierConfig()
    cfg = dataclasses.replace(
        cfg,
        endpoint=endpoint or cfg.endpoint,
        bucket=bucket or cfg.bucket,
        prefix=prefix or cfg.prefix,
    )
    cfg.check()
    return cfg


@contextmanager
def _tier(directory: str, cfg: TierConfig, key: str | None) -> Iterator[ColdTier]:
    try:
        db = Historian.open(directory, Options(encryption_key_file=key))
    except (HistorianError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        yield ColdTier.attach(db, cfg)
    except (HistorianError, TierConfigError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    finally:
        db.close()


def _checked(
    config: str | None, endpoint: str | None, bucket: str | None, prefix: str | None
) -> TierConfig:
    try:
        return _config(config, endpoint, bucket, prefix)
    except TierConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command()
def status(
    directory: str = typer.Argument(..., help="historian data directory"),
    config: str | None = ConfigOpt,
    endpoint: str | None = EndpointOpt,
    bucket: str | None = BucketOpt,
    prefix: str | None = PrefixOpt,
    encryption_key: str | None = KeyOpt,
) -> None:
    """Cold parts, bytes per kind, bytes/point hot and cold, retention log, export lag (JSON)."""
    cfg = _checked(config, endpoint, bucket, prefix)
    with _tier(directory, cfg, encryption_key) as tier:
        typer.echo(json.dumps(tier.stats(), indent=2, default=str))


@app.command("export-now")
def export_now(
    directory: str = typer.Argument(..., help="historian data directory"),
    config: str | None = ConfigOpt,
    endpoint: str | None = EndpointOpt,
    bucket: str | None = BucketOpt,
    prefix: str | None = PrefixOpt,
    hot_window: str | None = typer.Option(None, "--hot-window", help="e.g. 7d (overrides)"),
    now: str | None = typer.Option(None, "--now", help="ISO time to treat as now (backfills)"),
    encryption_key: str | None = KeyOpt,
) -> None:
    """Export every whole bucket older than the hot window, merge small parts, apply retention."""
    cfg = _checked(config, endpoint, bucket, prefix)
    try:
        if hot_window:
            cfg = dataclasses.replace(cfg, hot_window_ns=parse_duration(hot_window))
        now_ns = int(datetime.fromisoformat(now).timestamp() * 1e9) if now else None
    except (TierConfigError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    with _tier(directory, cfg, encryption_key) as tier:
        rep = tier.export_due(now_ns)
        for line in rep.recovered:
            typer.echo(f"recovered: {line}")
        rate = rep.points / rep.seconds if rep.seconds else 0.0
        typer.echo(
            f"exported {rep.days} day(s), {rep.parts} part(s), {rep.points} points "
            f"({rep.raw_bytes} raw + {rep.rollup_bytes} rollup bytes; {rep.hot_bytes} hot bytes "
            f"freed) in {rep.seconds:.2f} s, {rate:,.0f} points/s"
        )
        for line in tier.compact_small():
            typer.echo(line)
        for line in tier.apply_retention(now_ns):
            typer.echo(line)


@app.command("verify")
def verify_cmd(
    directory: str = typer.Argument(..., help="historian data directory"),
    config: str | None = ConfigOpt,
    endpoint: str | None = EndpointOpt,
    bucket: str | None = BucketOpt,
    prefix: str | None = PrefixOpt,
    encryption_key: str | None = KeyOpt,
) -> None:
    """Re-read every cold object: size, checksum and row count against the catalogue."""
    cfg = _checked(config, endpoint, bucket, prefix)
    with _tier(directory, cfg, encryption_key) as tier:
        rep = tier.verify()
    for p in rep.problems:
        typer.echo(f"CORRUPT: {p}")
    verdict = "OK" if rep.ok else f"{len(rep.problems)} problem(s)"
    typer.echo(f"checked {rep.objects} objects, {rep.bytes} bytes: {verdict}")
    if not rep.ok:
        raise typer.Exit(1)
