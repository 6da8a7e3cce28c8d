"""``twinbench security``: generate and inspect the bus credentials of a deployment.

twinbench security init DIR [--tenants acme,globex] [--collectors N] [--managed M]
                           [--days VALID] [--mtls]
                           [--series acme-collector-1=1-500,700 ...]
twinbench security show DIR [--permissions]
twinbench security rotate DIR [--user NAME ...] [--api-token NAME ...] [--jetstream-key]
                             [--forget-previous-key]
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from harness.security.api_tokens import API_TOKEN_SCOPES, rotate_api_token
from harness.security.deployment import (
    DeploymentExistsError,
    InitOptions,
    init_deployment,
    shared_partitions,
)
from harness.security.manifest import MANIFEST_NAME, ManifestError, SecurityManifest
from harness.security.permissions import permissions_table
from harness.security.rotation import (
    forget_previous_jetstream_key,
    rotate_jetstream_key,
    rotate_user,
)
from historian.ingest.series_owners import SeriesSet

app = typer.Typer(help="Bus credentials: CA, TLS, NKEY users, accounts.", no_args_is_help=True)

__all__ = ["app"]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


@app.command()
def init(
    directory: Path = typer.Argument(..., help="Directory to write (must be new or empty)"),
    tenants: str = typer.Option("acme", help="Comma-separated tenant names (one account each)"),
    collectors: int = typer.Option(2, help="Collector identities per tenant"),
    managed: int = typer.Option(
        0,
        help="Collector identities per tenant for the historian's managed connections "
        "(historian serve --managed-identities DIR/managed-identities-<tenant>.json)",
    ),
    days: float = typer.Option(90.0, help="Validity of user identities and client certs, days"),
    server_days: float | None = typer.Option(
        None, help="Validity of the CA and server certificate, days (default: --days)"
    ),
    partitions: int | None = typer.Option(
        None, help="Batch partitions (default: enough to give each collector its own)"
    ),
    mtls: bool = typer.Option(False, "--mtls", help="Require client certificates (verify)"),
    cipher: str = typer.Option("chachapoly", help="JetStream store cipher: chachapoly or aes"),
    force: bool = typer.Option(False, "--force", help="Replace an existing deployment in DIR"),
    series: list[str] = typer.Option(
        [],
        "--series",
        help="NAME=IDS: the series ids collector NAME may write (1-500,700 or *; "
        "default *), in its source owners file",
    ),
) -> None:
    """Write a local CA, server and client certificates, NKEY users, the JetStream
    store key and a manifest (security.json) into DIR."""
    names = tuple(t.strip() for t in tenants.split(",") if t.strip())
    owned: dict[str, SeriesSet] = {}
    for item in series:
        name, eq, spec = item.partition("=")
        try:
            if not eq or not name.strip():
                raise ValueError("give NAME=IDS, e.g. acme-collector-1=1-500,700")
            owned[name.strip()] = SeriesSet.parse(spec)
        except ValueError as exc:
            raise _fail(f"--series {item!r}: {exc}") from None
    try:
        options = InitOptions(
            tenants=names,
            collectors=collectors,
            managed=managed,
            days=days,
            server_days=server_days,
            partitions=partitions,
            mtls=mtls,
            cipher=cipher,
            series=owned,
        )
    except ValueError as exc:
        raise _fail(str(exc)) from None
    if directory.exists() and not directory.is_dir():
        raise _fail(f"{directory} exists and is not a directory")
    try:
        manifest = init_deployment(directory, options, force=force)
    except DeploymentExistsError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"cannot write {directory}: {exc.strerror or exc}") from None
    typer.echo(
        f"wrote {len(manifest.identities)} identities for tenants {', '.join(manifest.tenants)} "
        f"({manifest.bus.partitions} partitions, mtls={'on' if mtls else 'off'}, "
        f"expires {manifest.identities[0].expires}) to {directory / MANIFEST_NAME}"
    )
    for part, users in sorted(shared_partitions(manifest).items()):
        typer.echo(f"note: partition {part} is shared by {', '.join(users)}")


@app.command()
def show(
    directory: Path = typer.Argument(..., help="A directory written by `security init`"),
    permissions: bool = typer.Option(
        False, "--permissions", help="Print the subject allow-lists as a Markdown table"
    ),
) -> None:
    """List each identity: role, account, partition, credential files and expiry."""
    try:
        manifest = SecurityManifest.load(directory)
    except ManifestError as exc:
        raise _fail(str(exc)) from None
    if permissions:
        typer.echo(permissions_table(manifest.identities, manifest.bus))
        return
    now = dt.datetime.now(dt.UTC)
    for ident in manifest.identities:
        state = "EXPIRED" if ident.expired(now) else "valid"
        part = f" p{ident.partition}" if ident.partition is not None else ""
        typer.echo(
            f"{ident.name:<24} {ident.role.value:<9} {ident.account:<10}{part:<4} "
            f"{ident.seed_file:<32} {state} until {ident.expires}"
        )


@app.command()
def rotate(
    directory: Path = typer.Argument(..., help="A directory written by `security init`"),
    user: list[str] = typer.Option([], "--user", help="Rotate this user's NKEY and cert"),
    api_token: list[str] = typer.Option(
        [], "--api-token", help="New secret for this HTTP API token (e.g. acme-api-reader)"
    ),
    jetstream_key: bool = typer.Option(
        False, "--jetstream-key", help="New store key; the old one kept as prev_encryption_key"
    ),
    forget_previous: bool = typer.Option(
        False, "--forget-previous-key", help="Drop prev_encryption_key (after a restart)"
    ),
    days: float = typer.Option(90.0, help="Validity of the rotated users, in days"),
) -> None:
    """Rotate credentials in DIR; then re-render the server config and restart nats-server."""
    if not (user or api_token or jetstream_key or forget_previous):
        raise _fail(
            "nothing to rotate: give --user NAME, --api-token NAME, --jetstream-key or "
            "--forget-previous-key"
        )
    try:
        for name in api_token:
            tenant, _, role = name.rpartition("-api-")
            if not tenant or role not in API_TOKEN_SCOPES:
                raise ValueError(
                    f"--api-token {name!r}: give <tenant>-api-<role>, role one of "
                    f"{', '.join(API_TOKEN_SCOPES)}"
                )
            path = rotate_api_token(directory, tenant, role)
            typer.echo(
                f"rotated {name}: new secret in users/{name}.token, {path} (restart the historian)"
            )
        for name in user:
            ident = rotate_user(directory, name, days=days).identity(name)
            typer.echo(f"rotated {name}: new key {ident.public_key}, expires {ident.expires}")
        if jetstream_key:
            rotate_jetstream_key(directory)
            typer.echo("rotated the JetStream store key (restart nats-server)")
        if forget_previous:
            forget_previous_jetstream_key(directory)
            typer.echo("dropped the previous JetStream store key")
    except (ManifestError, ValueError) as exc:
        raise _fail(str(exc)) from None
