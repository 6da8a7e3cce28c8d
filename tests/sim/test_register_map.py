"""Register map export and the `twinbench sim catalogue / register-map` commands."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from typer.testing import CliRunner

from harness.cli.app import build_app
from sim.catalogue_gen import generate_oilfield
from sim.register_map import COLUMNS, register_map_csv, register_map_markdown
from sim.tags import load_catalogue


def test_csv_has_one_row_per_tag_sorted() -> None:
    cat = generate_oilfield(120)
    rows = list(csv.DictReader(io.StringIO(register_map_csv(cat))))
    assert len(rows) == len(cat)
    keys = [(int(r["unit_id"]), r["table"], int(r["address"])) for r in rows]
    assert keys[0] == (1, "input", 0)
    assert {r["unit_id"] for r in rows} == {"1", "2"}
    assert all(r["reference"].startswith("4") for r in rows if r["table"] == "holding")


def test_markdown_table_shape() -> None:
    md = register_map_markdown(generate_oilfield(2)).splitlines()
    table = [line for line in md if line.startswith("|")]
    assert len(table) == 2 + 20
    assert all(line.count("|") == len(COLUMNS) + 1 for line in table)


def test_cli_catalogue_and_register_map(tmp_path: Path) -> None:
    runner = CliRunner()
    app = build_app()
    out = tmp_path / "normal.toml"
    args = ["sim", "catalogue", "--profile", "normal", "--seed", "3", "-o", str(out)]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert len(load_catalogue(out)) == 500
    r = runner.invoke(app, ["sim", "register-map", str(out), "--format", "csv"])
    assert r.exit_code == 0 and r.output.count("\n") == 501
    bad = tmp_path / "bad.toml"
    bad.write_text(out.read_text().replace('unit = "psi"', 'unit = "psia"', 1))
    r = runner.invoke(app, ["sim", "register-map", str(bad)])
    assert r.exit_code == 2 and "unknown engineering unit 'psia'" in r.output
