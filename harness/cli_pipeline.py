"""Run the collector -> NATS -> historian pipeline."""

from __future__ import annotations

import typer

app = typer.Typer(help="Run the collector -> NATS -> historian pipeline.", no_args_is_help=True)
