"""Inspect, verify and rebuild a historian data directory."""

from __future__ import annotations

import typer

app = typer.Typer(help="Inspect, verify and rebuild a historian data directory.", no_args_is_help=True)
