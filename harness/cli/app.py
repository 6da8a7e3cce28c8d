"""The ``twinbench`` console script: one typer app, one sub-command group per layer.

Each group lives beside the code it drives (``historian/codec/cli.py`` for
``twinbench compression``, ``sim/cli.py`` for ``twinbench sim``, ...) so this
module only wires them together.
"""

from __future__ import annotations

import importlib

import typer

# (command group, module holding its `app`)
COMMAND_GROUPS: tuple[tuple[str, str], ...] = (
    ("compression", "historian.codec.cli"),
    ("historian", "historian.cli"),
    ("sim", "sim.cli"),
    ("services", "harness.cli.services"),
    ("pipeline", "harness.cli.pipeline"),
    ("scenario", "harness.cli.scenario"),
    ("report", "harness.cli.report"),
    ("shadow", "harness.shadow.cli"),
    ("security", "harness.security.cli"),
)


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="twinbench",
        help="Digital-twin test harness with an integrated industrial historian.",
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,
    )
    for name, module in COMMAND_GROUPS:
        sub = importlib.import_module(module).app
        app.add_typer(sub, name=name)
    return app


def main() -> None:
    build_app()()


if __name__ == "__main__":
    main()
