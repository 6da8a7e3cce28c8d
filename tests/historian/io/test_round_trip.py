"""import -> export -> import is exact: ns timestamps given with any offset, every status."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from historian.io import export, import_files
from historian.model import Severity

from .conftest import store_rows, write

TAGS = ["acme.s1.a1.l1.c1.pump1.speed", "acme.s1.a1.l1.c1.pump1.running", "SINUSOID"]
STATUSES = [
    "Good",
    "Uncertain",
    "Bad",
    "BadNoData",
    "UncertainDataSubNormal",
    "GoodClamped",
    "BadSensorFailure",
    "0x81230000",
    "0x40000000",
]
_values = st.one_of(
    st.floats(allow_nan=False, width=64),
    st.sampled_from([0.0, -0.0, 5e-324, 1.7976931348623157e308, float("inf"), float("nan")]),
)


def _quality(status: str) -> int:
    from historian.statuscodes import parse_status

    return parse_status(status)


@st.composite
def points(draw: st.DrawFn) -> list[tuple[str, int, float | None, str]]:
    out = []
    for _ in range(draw(st.integers(1, 30))):
        status = draw(st.sampled_from(STATUSES))
        bad = _quality(status) >> 14 >= Severity.BAD
        value = draw(st.none() | _values) if bad else draw(_values)
        ts = draw(st.integers(0, 2**62))
        out.append((draw(st.sampled_from(TAGS)), ts, value, status))
    return out


def _render_ts(ns: int, offset_min: int, trim: bool) -> str:
    local = ns + offset_min * 60 * 10**9
    secs, frac = divmod(local, 10**9)
    text = str(np.datetime64(secs, "s"))
    digits = f"{frac:09d}".rstrip("0") if trim else f"{frac:09d}"
    if digits:
        text += "." + digits
    if offset_min == 0:
        return text + "Z"
    sign = "-" if offset_min < 0 else "+"
    return text + f"{sign}{abs(offset_min) // 60:02d}:{abs(offset_min) % 60:02d}"


def _value_text(v: float | None) -> str:
    if v is None:
        return ""
    return "NaN" if v != v else repr(v)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pts=points(), offsets=st.lists(st.integers(-14 * 60, 14 * 60), min_size=1), data=st.data())
def test_import_export_import_is_identical(
    pts: list[tuple[str, int, float | None, str]], offsets: list[int], data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        lines = ["tag,timestamp,value,status"]
        for k, (tag, ts, v, status) in enumerate(pts):
            trim = data.draw(st.booleans())
            lines.append(
                f"{tag},{_render_ts(ts, offsets[k % len(offsets)], trim)},{_value_text(v)},{status}"
            )
        src = write(d / "in.csv", *lines)
        import_files([src], str(d / "s1"))
        expected: dict[tuple[str, int], tuple[str, int]] = {}
        for tag, ts, v, status in pts:  # last write wins on (tag, ts)
            val = "nan" if v is None or v != v else repr(float(v))
            expected[(tag, ts)] = (val, _quality(status))
        rows = store_rows(d / "s1")
        got = {(t, ts): (v, q) for t, ts, v, q in rows}
        assert got == expected and len(rows) == len(expected)

        export(str(d / "s1"), str(d / "b.csv"), "long")
        import_files([str(d / "b.csv")], str(d / "s2"))
        export(str(d / "s2"), str(d / "c.csv"), "long")
        assert (d / "b.csv").read_bytes() == (d / "c.csv").read_bytes()
        assert store_rows(d / "s2") == rows

        for fmt in ("wide", "parquet"):
            export(str(d / "s1"), str(d / f"x.{fmt}"), fmt)
            import_files([str(d / f"x.{fmt}")], str(d / f"s_{fmt}"))
            assert sorted(store_rows(d / f"s_{fmt}")) == sorted(rows), fmt


def test_ids_are_kept_across_imports_and_new_tags_get_fresh_ones(tmp_path: Path) -> None:
    from historian.catalogue import TagCatalogue

    a = write(
        tmp_path / "a.csv",
        "tag,timestamp,value,status",
        "x.one,2024-01-01T00:00:00Z,1,Good",
        "x.two,2024-01-01T00:00:00Z,2,Good",
    )
    b = write(
        tmp_path / "b.csv",
        "tag,timestamp,value,status",
        "x.three,2024-01-01T00:00:00Z,3,Good",
        "x.one,2024-01-01T00:00:01Z,4,Good",
    )
    warnings: list[str] = []
    r1 = import_files([a], str(tmp_path / "s"), warn=warnings.append)
    r2 = import_files([b], str(tmp_path / "s"), warn=warnings.append)
    assert r1.created_tags == ["x.one", "x.two"] and r2.created_tags == ["x.three"]
    assert warnings == [
        "created 2 catalogue entries for unknown tags: x.one, x.two",
        "created 1 catalogue entries for unknown tags: x.three",
    ]
    cat = TagCatalogue.load(tmp_path / "s")
    assert cat is not None and [(t.id, t.name) for t in cat] == [
        (1, "x.one"),
        (2, "x.two"),
        (3, "x.three"),
    ]
    assert cat.revision == 2
    assert [r[:2] for r in store_rows(tmp_path / "s")] == [
        ("x.one", 1704067200 * 10**9),
        ("x.one", 1704067201 * 10**9),
        ("x.two", 1704067200 * 10**9),
        ("x.three", 1704067200 * 10**9),
    ]


def test_export_selects_tags_and_half_open_range(tmp_path: Path) -> None:
    src = write(
        tmp_path / "a.csv",
        "tag,timestamp,value,status",
        *[f"p.{n},2024-01-01T00:00:0{s}Z,{s},Good" for n in ("a", "b") for s in range(4)],
    )
    import_files([src], str(tmp_path / "s"))
    out = tmp_path / "o.csv"
    r = export(
        str(tmp_path / "s"),
        str(out),
        "long",
        tags=["p.b"],
        start_ns=1704067201 * 10**9,
        end_ns=1704067203 * 10**9,
    )
    assert r.points == 2
    assert out.read_text().splitlines()[1:] == [
        "p.b,2024-01-01T00:00:01.000000000Z,1,Good",
        "p.b,2024-01-01T00:00:02.000000000Z,2,Good",
    ]


def test_long_import_reports_progress_in_batches(tmp_path: Path) -> None:
    n = 5000
    ts = np.arange(n, dtype=np.int64) * 10**9 + 1_700_000_000 * 10**9
    from historian.io.timestamps import format_timestamps

    text = format_timestamps(ts).to_pylist()
    src = write(
        tmp_path / "a.csv",
        "tag,timestamp,value,status",
        *[f"p.a,{t},{i}.5,Good" for i, t in enumerate(text)],
    )
    seen: list[tuple[int, int]] = []
    r = import_files(
        [src],
        str(tmp_path / "s"),
        batch_points=1000,
        progress=lambda done, total, s: seen.append((done, total)),
    )
    assert r.points == n and seen == [(k * 1000, n) for k in range(1, 6)]
    rows = store_rows(tmp_path / "s")
    assert [r[1] for r in rows] == ts.tolist() and rows[-1][2] == "4999.5"


def test_files_beyond_the_memory_budget_are_parsed_again(tmp_path: Path) -> None:
    a = write(tmp_path / "a.csv", "tag,timestamp,value,status", "p.a,2024-01-01T00:00:00Z,1,Good")
    b = write(tmp_path / "b.csv", "tag,timestamp,value,status", "p.b,2024-01-01T00:00:00Z,2,Good")
    r = import_files([a, b], str(tmp_path / "s"), memory_budget=0)
    assert r.points == 2
    assert [row[:3] for row in store_rows(tmp_path / "s")] == [
        ("p.a", 1704067200 * 10**9, "1.0"),
        ("p.b", 1704067200 * 10**9, "2.0"),
    ]


def test_export_sees_points_still_in_the_wal(tmp_path: Path) -> None:
    """Points a server wrote but never flushed (replayed from the WAL at open) are exported."""
    from historian.catalogue import TagCatalogue, TagInfo
    from historian.lsm.engine import Historian

    data = tmp_path / "s"
    with Historian.open(str(data)) as db:
        TagCatalogue([TagInfo(7, "p.wal")]).save(data)
        db.write_arrays([7, 7], [5 * 10**9, 6 * 10**9], [1.25, 2.5])
    export(str(data), str(tmp_path / "o.csv"), "long")
    assert (tmp_path / "o.csv").read_text().splitlines() == [
        "tag,timestamp,value,status",
        "p.wal,1970-01-01T00:00:05.000000000Z,1.25,Good",
        "p.wal,1970-01-01T00:00:06.000000000Z,2.5,Good",
    ]
