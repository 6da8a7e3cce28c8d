"""Inspect, verify and rebuild a historian data directory.

twinbench historian inspect DIR   # levels, files, time ranges, series counts, bytes/point
twinbench historian verify DIR    # every checksum; exit 1 when anything is corrupt
twinbench historian repair DIR --output NEWDIR  # salvage a damaged store into a new one
twinbench historian rebuild --nats URL TARGET  # replay the JetStream stream into a new store
twinbench historian serve DIR --nats URL       # the historian server: ingest + front ends
twinbench historian ingest --nats URL DIR      # the same as serve DIR --nats URL
twinbench historian import FILE... --data-dir DIR [--catalogue FILE] [--strict]
twinbench historian export --data-dir DIR --format long|wide|parquet|pi -o FILE
twinbench historian tier status|export-now|verify DIR [--config FILE]  # the cold tier
twinbench historian token-hash < secret      # token_sha256 for the API tokens file
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import typer

from historian.crypto.keyfile import EncryptionKeyError
from historian.io.commands import export_cmd, import_cmd
from historian.lsm.inspect import inventory, verify
from historian.lsm.version import LEVELS
from historian.tier.cli import app as tier_app

app = typer.Typer(
    help="Inspect, verify and rebuild a historian data directory.", no_args_is_help=True
)
app.command("import")(import_cmd)  # historian/io/commands.py
app.command("export")(export_cmd)
app.add_typer(tier_app, name="tier")  # historian/tier/cli.py: status, export-now, verify

if TYPE_CHECKING:
    from historian.crypto.cipher import BlockCipher

KEY_HELP = "key file of an encrypted store (historian serve --encryption-key)"


def _cipher(key_file: str | None) -> BlockCipher | None:
    """The store's cipher, or None; a bad key file is a usage error (one line, exit 2)."""
    if key_file is None:
        return None
    from historian.crypto.keyfile import load_cipher

    try:
        return load_cipher(key_file)
    except EncryptionKeyError as exc:
        typer.echo(f"error: --encryption-key: {exc}", err=True)
        raise typer.Exit(2) from exc


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _bpp(nbytes: int, points: int) -> str:
    return f"{nbytes / points:.3f}" if points else "-"


@app.command()
def inspect(
    directory: str = typer.Argument(..., help="historian data directory"),
    encryption_key: str | None = typer.Option(None, "--encryption-key", help=KEY_HELP),
) -> None:
    """Print levels, files, time ranges, series counts and bytes/point."""
    try:
        inv = inventory(directory, cipher=_cipher(encryption_key))
    except (OSError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    st = inv.state
    typer.echo(f"directory {directory}")
    typer.echo(f"flushed_seq {st.flushed_seq}   next_file_number {st.next_file_number}")
    total_b = total_p = 0
    for lv in range(LEVELS):
        files = inv.level(lv)
        b = sum(f.file_bytes for f in files)
        p = sum(f.points for f in files)
        total_b += b
        total_p += p
        typer.echo(f"L{lv}: {len(files)} files, {p} points, {b} bytes, {_bpp(b, p)} B/pt")
        for f in files:
            typer.echo(
                f"  seg-{f.number:08d}  bucket {_iso(f.bucket_start)}  "
                f"{_iso(f.min_ts)} .. {_iso(f.max_ts)}  series {f.series_count}  "
                f"points {f.points}  bytes {f.file_bytes}  {_bpp(f.file_bytes, f.points)} B/pt"
            )
    typer.echo(f"segments: {total_p} points, {total_b} bytes, {_bpp(total_b, total_p)} B/pt")
    wal_bytes = sum(s for _, s in inv.wal_segments)
    typer.echo(
        f"WAL: {len(inv.wal_segments)} segments, {wal_bytes} bytes, "
        f"{inv.wal_records} records / {inv.wal_points} points not yet flushed"
    )
    if inv.wal_problem:
        typer.echo(f"WAL unreadable past a point ({inv.wal_problem}); run `historian verify`")
    # WAL points may repeat segment points (last write wins): this is what is stored, not
    # what a query returns
    typer.echo(
        f"total: {total_p + inv.wal_points} points ({total_p} in segments, "
        f"{inv.wal_points} in the WAL)"
    )
    for name in inv.orphans:
        typer.echo(f"orphan (deleted at next open): {name}")


@app.command("verify")
def verify_cmd(
    directory: str = typer.Argument(..., help="historian data directory"),
    encryption_key: str | None = typer.Option(None, "--encryption-key", help=KEY_HELP),
) -> None:
    """Check every checksum (manifest, segment blocks, index, footer, WAL); exit 1 on corruption."""
    try:
        report = verify(directory, cipher=_cipher(encryption_key))
    except EncryptionKeyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    for w in report.warnings:
        typer.echo(f"warning: {w}")
    for p in report.problems:
        typer.echo(f"CORRUPT: {p}")
    verdict = "OK" if report.ok else f"{len(report.problems)} problem(s)"
    typer.echo(
        f"checked {report.files_checked} segment files, {report.chunks_checked} chunks, "
        f"{report.wal_records} WAL records: {verdict}"
    )
    if not report.ok:
        raise typer.Exit(1)


@app.command("repair")
def repair_cmd(
    directory: str = typer.Argument(..., help="damaged historian data directory (only read)"),
    output: str = typer.Option(..., "--output", help="new directory for the salvaged store"),
    encryption_key: str | None = typer.Option(
        None, "--encryption-key", help=KEY_HELP + "; the output is encrypted with it too"
    ),
) -> None:
    """Salvage everything readable into a new directory; print exactly what was dropped."""
    from historian.lsm.repair import RepairUsageError, repair

    try:
        rep = repair(directory, output, cipher=_cipher(encryption_key))
    except (RepairUsageError, EncryptionKeyError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    for d in rep.dropped:
        typer.echo(f"dropped: {d}")
    for n in rep.notes:
        typer.echo(f"note: {n}")
    typer.echo(
        f"repaired {directory} -> {output}: {rep.segments_copied} segments copied, "
        f"{rep.segments_rewritten} rewritten from their intact chunks ({rep.segment_points} "
        f"points), {rep.wal_records} WAL records ({rep.wal_points} points); dropped "
        f"{len(rep.dropped)} piece(s), {rep.points_dropped} known points. "
        f"{directory} was not changed."
    )


@app.command("rebuild")
def rebuild_cmd(
    target: str = typer.Argument(..., help="new, empty directory for the rebuilt store"),
    nats_url: str = typer.Option(..., "--nats", help="nats://host:port of the stream"),
    stream: str = typer.Option("TWINBENCH", help="stream name"),
) -> None:
    """Rebuild a store from the stream (event sourcing); the live store is not touched."""
    import asyncio
    from dataclasses import replace
    from pathlib import Path

    from historian.bus.options import BusOptions
    from historian.ingest.rebuild import RebuildError, RebuildResult, rebuild

    def progress(r: RebuildResult) -> None:
        typer.echo(f"\r{r.messages} messages, {r.points} points", nl=False, err=True)

    opts = replace(BusOptions(), stream=stream)
    try:
        result = asyncio.run(rebuild(nats_url, Path(target), opts, progress=progress))
    except RebuildError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(
        f"\nrebuilt {target}: {result.points} points from {result.messages} messages "
        f"(stream seq {result.first_seq}..{result.last_seq}, {result.undecodable} undecodable) "
        f"in {result.seconds:.1f} s"
    )


@app.command("ingest")
def ingest_cmd(
    data_dir: str = typer.Argument(..., help="historian data directory"),
    nats_url: str = typer.Option(..., "--nats", help="nats://host:port"),
    durability: str = typer.Option("fsync", help="fsync (ack after fsync) | os (benchmarks)"),
) -> None:
    """Consume the stream into the store until Ctrl-C (an alias of `serve DIR --nats URL`)."""
    from historian.server.cli import main

    argv = [data_dir, "--nats", nats_url, "--durability", durability]
    raise typer.Exit(main(argv, prog="twinbench historian ingest"))


@app.command(
    "serve",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def serve_cmd(ctx: typer.Context) -> None:
    """Run the historian server on DIR: ingest (--nats URL), front ends, until Ctrl-C.

    Every option is parsed by historian.server.cli (see `serve --help`).
    """
    from historian.server.cli import main

    raise typer.Exit(main(list(ctx.args), prog="twinbench historian serve"))


@app.command("token-hash")
def token_hash_cmd() -> None:
    """Print the token_sha256 of a bearer secret read from stdin (for the --tokens file)."""
    import sys

    from historian.api.auth import token_sha256

    secret = sys.stdin.readline().rstrip("\r\n")  # one line: `echo`/`printf` or a terminal
    if len(secret) < 8:
        typer.echo("error: give the secret (at least 8 characters) on stdin", err=True)
        raise typer.Exit(2)
    typer.echo(token_sha256(secret))
