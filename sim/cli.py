"""Plant twin: tag catalogues, virtual OPC UA/Modbus servers, replay."""

from __future__ import annotations

import typer

app = typer.Typer(help="Plant twin: tag catalogues, virtual OPC UA/Modbus servers, replay.", no_args_is_help=True)
