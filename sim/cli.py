"""``twinbench sim``: tag catalogues, register maps, virtual OPC UA/Modbus servers, replay."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Plant twin: tag catalogues, virtual OPC UA/Modbus servers, replay.",
    no_args_is_help=True,
)


class ProfileName(StrEnum):
    normal = "normal"
    peak = "peak"
    stress = "stress"


class MapFormat(StrEnum):
    csv = "csv"
    md = "md"


@app.command("catalogue")
def catalogue_cmd(
    output: Annotated[Path, typer.Option("-o", "--output", help="catalogue TOML file to write")],
    profile: Annotated[ProfileName, typer.Option(help="load profile")] = ProfileName.normal,
    seed: Annotated[int, typer.Option(help="seed for the sensor models")] = 0,
) -> None:
    """Generate the oil-field tag catalogue for a load profile."""
    from sim.catalogue_gen import generate_profile
    from sim.tags import dump_catalogue

    cat = generate_profile(profile.value, seed)
    dump_catalogue(cat, output)
    typer.echo(f"wrote {len(cat)} tags ({cat.meta['wells']} wells) to {output}")


@app.command("register-map")
def register_map_cmd(
    catalogue: Annotated[Path, typer.Argument(help="catalogue TOML file")],
    fmt: Annotated[MapFormat, typer.Option("--format", help="csv or md")] = MapFormat.csv,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="default stdout")] = None,
) -> None:
    """Print the Modbus register map of a catalogue."""
    from sim.register_map import register_map_csv, register_map_markdown
    from sim.tags import CatalogueError, load_catalogue

    try:
        cat = load_catalogue(catalogue)
    except CatalogueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    text = register_map_csv(cat) if fmt is MapFormat.csv else register_map_markdown(cat)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
