"""Files stream in blocks: results and error positions must not depend on where blocks end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from historian.errors import InputFormatError
from historian.io import csv_table
from historian.io.formats import read_points

from .conftest import write


def _long_lines(n: int) -> list[str]:
    lines = ["tag,timestamp,value,status"]
    for i in range(n):
        lines.append(f"p.t{i % 7},2024-01-01T00:{i // 60:02d}:{i % 60:02d}Z,{i}.25,Good")
        if i % 13 == 0:
            lines.append("")  # blank lines shift physical line numbers
    return lines


def _parse(path: str, fmt: str) -> dict[str, list[tuple[int, int, str]]]:
    """Each tag's points in file order (the order last-write-wins depends on)."""
    p = read_points(path, fmt)
    out: dict[str, list[tuple[int, int, str]]] = {}
    for k, t, q, v in zip(p.tag, p.ts.tolist(), p.quality.tolist(), p.values.tolist(), strict=True):
        out.setdefault(p.names[k], []).append((t, q, repr(v)))  # repr: NaN equals NaN
    return out


@pytest.mark.parametrize("fmt", ["long", "pi", "wide"])
def test_small_blocks_give_the_same_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    lines = _long_lines(300)
    if fmt == "pi":
        lines = [",".join(x.split(",")[:3]) for x in lines]
        lines[40] = lines[40].rsplit(",", 1)[0] + ",Shutdown"
    if fmt == "wide":
        lines = ["timestamp,p.a,p.a#status,p.b"]
        for i in range(300):
            status = "BadNoData" if i % 5 else ""
            lines.append(f"2024-01-01T00:00:{i % 60:02d}.{i:09d}Z,{i},{status},{i % 3 or ''}")
    path = write(tmp_path / "f.csv", *lines)
    whole = _parse(path, fmt)
    monkeypatch.setattr(csv_table, "_BLOCK", 512)
    assert _parse(path, fmt) == whole
    assert sum(len(v) for v in whole.values()) >= 300


@pytest.mark.parametrize("block", [512, 16 << 20])
def test_late_bad_row_is_located_across_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    monkeypatch.setattr(csv_table, "_BLOCK", block)
    lines = _long_lines(300)
    bad_line = len(lines) - 5
    lines[bad_line - 1] = "p.t1,2024-01-01T00:00:00Z,oops,Good"
    path = write(tmp_path / "f.csv", *lines)
    with pytest.raises(InputFormatError) as ei:
        read_points(path, "long")
    assert (ei.value.line, ei.value.column) == (bad_line, 3)

    lines[bad_line - 1] = "p.t1,2024-01-01T00:00:00Z,1"
    path = write(tmp_path / "f.csv", *lines)
    with pytest.raises(InputFormatError) as ei:
        read_points(path, "long")
    assert (ei.value.line, ei.value.column) == (bad_line, 4)


def test_names_are_shared_across_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_table, "_BLOCK", 512)
    path = write(tmp_path / "f.csv", *_long_lines(200))
    p = read_points(path, "long")
    assert sorted(p.names) == [f"p.t{k}" for k in range(7)]
    counts = np.bincount(p.tag, minlength=len(p.names))
    assert counts.sum() == 200 and counts.min() >= 28
