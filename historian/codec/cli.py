"""Measure compression and gate bytes/point against the committed baseline."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Measure compression and gate bytes/point against the committed baseline.",
    no_args_is_help=True,
)
