"""The import/export commands as a user runs them: exit codes, one-line errors, the lock."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from historian.catalogue import TagCatalogue
from historian.lsm.engine import Historian

from .conftest import store_rows, write

TWINBENCH = str(Path(sys.executable).with_name("twinbench"))


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", "/tmp/numba-cache")}
    return subprocess.run(
        [TWINBENCH, "historian", *args], capture_output=True, text=True, timeout=120, env=env
    )


def test_strict_catalogue_and_bad_row(tmp_path: Path) -> None:
    toml = tmp_path / "cat.toml"
    toml.write_text(
        'format = "twinbench-catalogue"\nversion = 1\n[[tag]]\nid = 40\n'
        'path = "acme.s.a.l.c.pump.speed"\nlegacy_name = "40001"\nunit = "rpm"\n'
        'low = 0.0\nhigh = 3600.0\ndtype = "float32"\nstepped = true\n'
    )
    data = tmp_path / "s"
    ok = write(
        tmp_path / "ok.csv",
        "tag,timestamp,value,status",
        "acme.s.a.l.c.pump.speed,2024-01-01T00:00:00Z,1500,Good",
    )
    r = _run("import", ok, "--data-dir", str(data), "--catalogue", str(toml), "--strict")
    assert r.returncode == 0, r.stderr
    assert "imported 1 points from 1 file(s)" in r.stdout
    # nothing but progress lines (a loaded machine took 6.4 s, past the 3 s progress period)
    assert [ln for ln in r.stderr.splitlines() if not ln.startswith("import: ")] == []
    cat = TagCatalogue.load(data)
    assert cat is not None and cat.by_name("acme.s.a.l.c.pump.speed").stepped is True  # type: ignore[union-attr]
    assert store_rows(data) == [("acme.s.a.l.c.pump.speed", 1704067200 * 10**9, "1500.0", 0)]

    unknown = write(
        tmp_path / "u.csv",
        "tag,timestamp,value,status",
        "acme.s.a.l.c.pump.flow,2024-01-01T00:00:00Z,1,Good",
    )
    r = _run("import", unknown, "--data-dir", str(data), "--strict")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "error: 1 tag(s) not in the store's catalogue: acme.s.a.l.c.pump.flow; add them with "
        "--catalogue FILE, or import without --strict to create them; nothing was imported"
    ]
    r = _run("import", unknown, "--data-dir", str(data))
    assert r.returncode == 0 and r.stderr.startswith("warning: created 1 catalogue entries")

    bad = write(
        tmp_path / "b.csv",
        "tag,timestamp,value,status",
        "acme.s.a.l.c.pump.flow,2024-01-01T00:00:01Z,x,Good",
    )
    r = _run("import", bad, "--data-dir", str(data))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        f"error: {bad}:2:3: value 'x' is not a number (write e.g. 12.5, -3e-2, NaN, inf; "
        "empty only for Bad); nothing was imported"
    ]
    out = tmp_path / "o.parquet"
    r = _run(
        "export",
        "--data-dir",
        str(data),
        "--format",
        "parquet",
        "-o",
        str(out),
        "--tags",
        "*.flow,*.speed",
    )
    assert r.returncode == 0 and "exported 2 points of 2 tag(s)" in r.stdout, r.stderr
    r = _run("export", "--data-dir", str(data), "--format", "xml", "-o", str(out))
    assert r.returncode == 2 and "--format 'xml' is not one of" in r.stderr


def test_store_held_by_a_server_is_named(tmp_path: Path) -> None:
    data = tmp_path / "s"
    src = write(tmp_path / "a.csv", "tag,timestamp,value,status", "p.a,2024-01-01T00:00:00Z,1,Good")
    with Historian.open(str(data)):
        for args in (
            ("import", src, "--data-dir", str(data)),
            ("export", "--data-dir", str(data), "--format", "long", "-o", str(tmp_path / "o.csv")),
        ):
            r = _run(*args)
            assert r.returncode == 2
            assert r.stderr.strip() == (
                f"error: the store {data} is in use by a running server (pid {os.getpid()}); "
                "stop it or query it through the server, then retry"
            )
    assert not (tmp_path / "o.csv").exists() and not (tmp_path / "o.csv.partial").exists()
    assert TagCatalogue.load(data) is None and store_rows(data) == []


def test_progress_line_every_few_seconds(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from historian.io import commands

    clock = [100.0]
    monkeypatch.setattr("historian.io.commands.time.monotonic", lambda: clock[0])
    show = commands._progress_printer("import")
    show(1_000_000, 4_000_000, 1.0)  # too soon after the start: silent
    clock[0] += commands.PROGRESS_EVERY_S
    show(2_000_000, 4_000_000, 2.0)
    show(2_500_000, 4_000_000, 2.5)  # again too soon
    err = capsys.readouterr().err.splitlines()
    assert err == ["import: 2,000,000 / 4,000,000 (50 %) points, 1.00 M points/s"]
