"""PI-style CSV: digital states in, Bad statuses stored, and the documented table back out."""

from __future__ import annotations

from pathlib import Path

import pytest

from historian.errors import InputFormatError
from historian.io import export, import_files
from historian.io.pi_csv import DEFAULT_BAD_STATE, STATE_FOR_STATUS, STATUS_FOR_STATE
from historian.statuscodes import QUALITY_BY_NAME, status_name

from .conftest import store_rows, write


def test_digital_states_map_to_bad_statuses(tmp_path: Path) -> None:
    lines = ["tag,timestamp,value"]
    states = list(STATUS_FOR_STATE)
    for k, state in enumerate(states):
        spelled = state.upper() if k % 2 else state  # PI matches states case-insensitively
        lines.append(f"CDT158,2024-01-01T00:{k // 60:02d}:{k % 60:02d}Z,{spelled}")
    lines.append("CDT158,2024-01-01T01:00:00Z,42.25")
    import_files([write(tmp_path / "pi.csv", *lines)], str(tmp_path / "s"))
    rows = store_rows(tmp_path / "s")
    assert [(status_name(q), v) for _, _, v, q in rows[:-1]] == [
        (STATUS_FOR_STATE[s], "nan") for s in states
    ]
    assert rows[-1][2:] == ("42.25", 0)
    for name in ("Bad Input", "Shutdown", "I/O Timeout", "Calc Failed", "No Data"):
        assert QUALITY_BY_NAME[STATUS_FOR_STATE[name]] >> 14 == 2, name


def test_export_writes_numbers_and_states(tmp_path: Path) -> None:
    src = write(
        tmp_path / "l.csv",
        "tag,timestamp,value,status",
        "p.a,2024-01-01T00:00:00Z,1.5,Good",
        "p.a,2024-01-01T00:00:01Z,2.5,UncertainSubNormal",
        "p.a,2024-01-01T00:00:02Z,,BadNoData",
        "p.a,2024-01-01T00:00:03Z,7,BadShutdown",
        "p.a,2024-01-01T00:00:04Z,,BadTimeout",
        "p.a,2024-01-01T00:00:05Z,,BadAggregateInvalidInputs",
        "p.a,2024-01-01T00:00:06Z,,BadUserAccessDenied",
    )
    import_files([src], str(tmp_path / "s"))
    export(str(tmp_path / "s"), str(tmp_path / "o.csv"), "pi")
    values = [line.split(",")[2] for line in (tmp_path / "o.csv").read_text().splitlines()[1:]]
    assert values == [
        "1.5",
        "2.5",
        "No Data",
        "Shutdown",
        "I/O Timeout",
        "Calc Failed",
        DEFAULT_BAD_STATE,
    ]
    # every state export writes reads back as the status it came from
    for status, state in STATE_FOR_STATUS.items():
        assert STATUS_FOR_STATE[state] == status


def test_unknown_state_or_empty_value_is_located(tmp_path: Path) -> None:
    f = write(
        tmp_path / "pi.csv",
        "tag,timestamp,value",
        "A,2024-01-01T00:00:00Z,1",
        "A,2024-01-01T00:00:01Z,Bad Inptu",
    )
    with pytest.raises(InputFormatError) as ei:
        import_files([f], str(tmp_path / "s"))
    assert (ei.value.line, ei.value.column) == (3, 3)
    assert "'Bad Inptu' is not a number, nor a PI digital state (Bad Input" in str(ei.value)
    f = write(tmp_path / "pi.csv", "tag,timestamp,value", "A,2024-01-01T00:00:00Z,")
    with pytest.raises(InputFormatError, match=r"pi\.csv:2:3: value is empty"):
        import_files([f], str(tmp_path / "s"))
