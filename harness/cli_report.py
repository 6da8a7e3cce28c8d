"""Read and compare scenario reports."""

from __future__ import annotations

import typer

app = typer.Typer(help="Read and compare scenario reports.", no_args_is_help=True)
