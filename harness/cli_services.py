"""Start the embedded service stack (nats-server, S3, PostgreSQL)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Start the embedded service stack (nats-server, S3, PostgreSQL).", no_args_is_help=True)
