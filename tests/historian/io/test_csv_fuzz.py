"""Fuzzing CSV import: mutated long, wide and PI files raise only ``InputFormatError``.

Valid files of each exchange format are mutated (bytes flipped, inserted, deleted,
cut; lines dropped, repeated, swapped; CSV-significant characters planted: quotes,
commas, CR, NUL, non-UTF-8) and read the way ``twinbench historian import`` reads
them (:func:`detect_format`, then :func:`read_points`). Every failure must be an
:class:`InputFormatError` whose message is one line; anything else (a pyarrow or
numpy exception, a ``UnicodeDecodeError``) is a crash. A second, smaller property
runs :func:`import_files` into a real store: an input either imports or fails with
``InputFormatError`` and leaves the store as it was. Bounded: a few seconds each.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from historian.errors import InputFormatError
from historian.io import detect_format, import_files, read_points

from .conftest import store_rows

# a traceback pyarrow swallows (printed to stderr, "Exception ignored in ...") fails too
pytestmark = [pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")]

VALID = {
    "long": b"tag,timestamp,value,status\n"
    b"p.a,2024-01-01T00:00:00Z,1.5,Good\n"
    b"p.a,2024-01-01T00:00:01.25Z,-2e3,UncertainLastUsableValue\n"
    b"p.b,2024-01-01T00:00:00+01:00,,BadNoData\n"
    b"p.b,2024-01-01T00:00:02Z,7,0x40920000\n",
    "wide": b"timestamp,p.a,p.a#status,p.b\n"
    b"2024-01-01T00:00:00Z,1.5,,7\n"
    b"2024-01-01T00:00:01Z,,BadNoData,\n"
    b"2024-01-01T00:00:02.5Z,3,UncertainSubNormal,8.25\n",
    "pi": b"tag,timestamp,value\n"
    b"SINUSOID,2024-01-01T00:00:00Z,50.5\n"
    b"SINUSOID,2024-01-01T00:00:01Z,I/O Timeout\n"
    b"SINUSOID,2024-01-01T00:00:02Z,Shutdown\n"
    b"CDT158,2024-01-01T00:00:00Z,-1.25\n",
}
PLANTS = [b'"', b",", b"\r", b"\r\n", b"\x00", b"\xff\xfe", b'""', b"\n", b" ", b"#status", b"e"]

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


@st.composite
def mutated_csv(draw: st.DrawFn) -> bytes:
    data = bytearray(VALID[draw(st.sampled_from(sorted(VALID)))])
    for _ in range(draw(st.integers(1, 5))):
        op = draw(st.sampled_from(["flip", "insert", "plant", "delete", "cut", "lines"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "plant":
            data[at:at] = draw(st.sampled_from(PLANTS))
        elif op == "delete" and data:
            del data[at : at + draw(st.integers(1, 12))]
        elif op == "cut":
            del data[at:]
        elif op == "lines":
            lines = bytes(data).split(b"\n")
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            how = draw(st.sampled_from(["drop", "repeat", "swap"]))
            if how == "drop":
                del lines[i]
            elif how == "repeat":
                lines.insert(i, lines[j])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            data = bytearray(b"\n".join(lines))
    return bytes(data)


_DIR = Path(tempfile.mkdtemp(prefix="csv-fuzz-"))


def _read(data: bytes) -> None:
    path = _DIR / "input.csv"
    path.write_bytes(data)
    try:
        read_points(str(path), detect_format(str(path)))
    except InputFormatError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(str(path)), repr(str(exc))


@given(mutated_csv())
# found by this test: non-UTF-8 bytes raised ArrowInvalid from open_csv (outside the
# reader's try), UnicodeDecodeError from read_header, and a traceback from pyarrow's
# invalid-row callback
@example(b"tag,timestamp,value,status\n\xff\xfe,2024-01-01T00:00:00Z,1,Good\n")
@example(b"tag,timestamp,value,status\np.a,2024-01-01T00:00:00Z,1,Good,\xaa\n")
@example(b"ta\xffg,x\n1,2\n")
@example(b'tag,timestamp,value,status\n"p.a\nx",2024-01-01T00:00:00Z,1\n')  # quoted break
@example(b'timestamp,p.a\n"2024-01-01T00:00:00Z,1\n')
@example(b"tag,timestamp,value\nSINUSOID,2024-01-01T00:00:00Z,1\x00\n")
@FUZZ
def test_mutated_csv_raises_only_input_format_error(data: bytes) -> None:
    _read(data)


@given(st.binary(max_size=300))
@FUZZ
def test_random_bytes_raise_only_input_format_error(data: bytes) -> None:
    _read(data)
    _read(b"tag,timestamp,value,status\n" + data)
    _read(b"timestamp,p.a\n" + data)


@given(mutated_csv())
@settings(FUZZ, max_examples=25)
def test_mutated_import_is_all_or_nothing(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        store = Path(d) / "store"
        seed = Path(d) / "seed.csv"
        seed.write_bytes(VALID["long"])
        import_files([str(seed)], str(store))
        before = store_rows(store)
        path = Path(d) / "input.csv"
        path.write_bytes(data)
        try:
            import_files([str(path)], str(store))
        except InputFormatError as exc:
            assert "\n" not in str(exc), repr(str(exc))
            assert store_rows(store) == before
