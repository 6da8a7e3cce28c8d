"""List and run scenarios."""

from __future__ import annotations

import typer

app = typer.Typer(help="List and run scenarios.", no_args_is_help=True)
