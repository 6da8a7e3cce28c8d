"""Every bad input names file:line:column, and the store is left exactly as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from historian.catalogue import TagCatalogue
from historian.errors import InputFormatError
from historian.io import import_files

from .conftest import store_rows, write

HEADER = "tag,timestamp,value,status"
GOOD = "p.a,2024-01-01T00:00:00Z,1.5,Good"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    seed = write(tmp_path / "seed.csv", HEADER, GOOD, "p.b,2024-01-01T00:00:01Z,,BadNoData")
    import_files([seed], str(tmp_path / "s"))
    return tmp_path / "s"


CASES = [
    # (the bad line, line, column, words in the message)
    ("p.a,2024-01-01T00:00:00,1,Good", 4, 2, "has no zone"),
    ("p.a,2024-02-30T00:00:00Z,1,Good", 4, 2, "day 30 is not in 2024-02"),
    ("p.a,yesterday,1,Good", 4, 2, "'yesterday': not a timestamp"),
    ("p.a,2024-01-01T00:00:00Z,1,Fine", 4, 4, "'Fine' is neither an OPC UA StatusCode name"),
    ("p.a,2024-01-01T00:00:00Z,1,", 4, 4, "status is empty"),
    ("p.a,2024-01-01T00:00:00Z,1,0x80000001", 4, 4, "info bits"),
    ("p.a,2024-01-01T00:00:00Z,twelve,Good", 4, 3, "value 'twelve' is not a number"),
    ("p.a,2024-01-01T00:00:00Z,1.5.2,Good", 4, 3, "value '1.5.2' is not a number"),
    ("p.a,2024-01-01T00:00:00Z,,Good", 4, 3, "value is empty but the status is not Bad"),
    ("p.a,2024-01-01T00:00:00Z,,Uncertain", 4, 3, "value is empty but the status is not Bad"),
    ("p.a,2024-01-01T00:00:00Z,1", 4, 4, "expected 4 fields (tag,timestamp,value,status), got 3"),
    ("p.a,2024-01-01T00:00:00Z,1,Good,extra", 4, 5, "got 5: extra field"),
    ("p a,2024-01-01T00:00:00Z,1,Good", 4, 1, "tag 'p a' is not a valid tag path"),
    (",2024-01-01T00:00:00Z,1,Good", 4, 1, "tag '' is empty"),
]


@pytest.mark.parametrize(("bad", "line", "column", "words"), CASES)
def test_bad_row_is_located_and_nothing_is_written(
    tmp_path: Path, store: Path, bad: str, line: int, column: int, words: str
) -> None:
    before_rows, before_cat = store_rows(store), TagCatalogue.load(store)
    # the good file comes first and has a new tag: neither its points nor its tag may land
    first = write(tmp_path / "first.csv", HEADER, "p.new,2024-01-02T00:00:00Z,9,Good")
    # a blank line before the bad row: line numbers are physical lines
    second = write(tmp_path / "second.csv", HEADER, GOOD, "", bad)
    with pytest.raises(InputFormatError) as ei:
        import_files([first, second], str(store))
    err = ei.value
    assert (err.path, err.line, err.column) == (second, line, column), str(err)
    assert str(err).startswith(f"{second}:{line}:{column}: ") and words in str(err), str(err)
    assert "\n" not in str(err)
    assert store_rows(store) == before_rows
    assert TagCatalogue.load(store) == before_cat


def test_wrong_header_and_missing_file(tmp_path: Path, store: Path) -> None:
    f = write(tmp_path / "h.csv", "tag,time,value,status", GOOD)
    with pytest.raises(
        InputFormatError, match=r"h\.csv:1:1: header 'tag,time,value,status' is none"
    ):
        import_files([f], str(store))
    with pytest.raises(InputFormatError, match=r"nope\.csv: cannot read"):
        import_files([str(tmp_path / "nope.csv")], str(store))
    with pytest.raises(InputFormatError, match="header is 'tag,time,value,status', expected"):
        import_files([f], str(store), fmt="long")


def test_crlf_and_byte_order_mark(tmp_path: Path, store: Path) -> None:
    f = tmp_path / "w.csv"
    f.write_bytes(
        b"\xef\xbb\xbf" + f"{HEADER}\r\n{GOOD}\r\n\r\np.a,2024-01-01T00:00:01Z,x,Good\r\n".encode()
    )
    with pytest.raises(InputFormatError) as ei:
        import_files([str(f)], str(store))
    assert (ei.value.line, ei.value.column) == (4, 3)
    f.write_bytes(b"\xef\xbb\xbf" + f"{HEADER}\r\n{GOOD}\r\n".encode())
    assert import_files([str(f)], str(store)).points == 1


def test_outside_the_store_window_is_refused_before_writing(tmp_path: Path, store: Path) -> None:
    before = store_rows(store)
    f = write(tmp_path / "old.csv", HEADER, GOOD, "p.a,1969-12-31T23:59:59Z,1,Good")
    with pytest.raises(InputFormatError) as ei:
        import_files([f], str(store))
    assert (ei.value.line, ei.value.column) == (3, 2) and "accepted range" in str(ei.value)
    assert store_rows(store) == before


def test_wide_bad_cells(tmp_path: Path, store: Path) -> None:
    f = write(
        tmp_path / "w.csv",
        "timestamp,p.a,p.a#status,p.b",
        "2024-01-01T00:00:00Z,1,,2",
        "2024-01-01T00:00:01Z,,Good,3",
    )
    with pytest.raises(InputFormatError, match=r"w\.csv:3:2: value is empty but the status"):
        import_files([f], str(store))
    f = write(tmp_path / "w.csv", "timestamp,p.a,p.b", "2024-01-01T00:00:00Z,1,zz")
    with pytest.raises(InputFormatError, match=r"w\.csv:2:3: value 'zz' is not a number"):
        import_files([f], str(store))
    f = write(tmp_path / "w.csv", "timestamp,p.a,p.c#status", "2024-01-01T00:00:00Z,1,Bad")
    with pytest.raises(InputFormatError, match=r"w\.csv:1:3: status column 'p\.c#status' has no"):
        import_files([f], str(store))
    f = write(tmp_path / "w.csv", "timestamp,p.a,p.a", "2024-01-01T00:00:00Z,1,2")
    with pytest.raises(InputFormatError, match="appears twice"):
        import_files([f], str(store))


def test_parquet_bad_rows(tmp_path: Path, store: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = str(tmp_path / "x.parquet")
    ts = pa.array([1, 2], pa.timestamp("ns", tz="UTC"))
    pq.write_table(
        pa.table(
            {
                "tag": ["p.a", "p.a"],
                "timestamp": ts,
                "value": [1.0, None],
                "status": pa.array([0, 0], pa.uint32()),
            }
        ),
        path,
    )
    with pytest.raises(InputFormatError, match=r"x\.parquet:2:3: value is empty but the status"):
        import_files([path], str(store))
    pq.write_table(
        pa.table({"tag": ["p.a"], "timestamp": pa.array([1], pa.timestamp("ns")), "value": [1.0]}),
        path,
    )
    with pytest.raises(InputFormatError, match="zone required"):
        import_files([path], str(store))
