"""The event store: round trip, dedupe, durability before return, torn tails, corruption."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from historian.events.model import Event, EventFormatError
from historian.events.store import (
    HEADER,
    EventStore,
    EventStoreCorruptError,
    segment_name,
)
from historian.fs import Faults, FaultyFileSystem
from tests.historian.events.strategies import BASE, NS_PER_DAY, events

FAR = 2**62


def ev(i: int, t: int, *, kind: str = "trip", sev: int = 800, src: str = "acme.a.b") -> Event:
    return Event(f"e{i}", t, src, kind, sev, f"event {i}")


def all_events(store: EventStore) -> list[Event]:
    return store.query(-FAR, FAR, max_count=10**9)[0]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(st.lists(events(), max_size=8), max_size=5), data=st.data())
def test_round_trip_and_query_semantics(
    tmp_path: Path, batches: list[list[Event]], data: st.DataObject
) -> None:
    d = tmp_path / f"s{os.urandom(4).hex()}"
    store = EventStore(d)
    expected: dict[str, Event] = {}
    for batch in batches:
        fresh = {e.id: e for e in batch if e.id not in expected}
        assert store.append(batch) == len(fresh)
        for e in batch:
            expected.setdefault(e.id, e)
    store.close()
    reopened = EventStore(d)  # the index is rebuilt from the files alone
    want = sorted(expected.values(), key=lambda e: (e.time_ns, e.id))
    assert all_events(reopened) == want
    start = BASE + data.draw(st.integers(-NS_PER_DAY, 3 * NS_PER_DAY))
    end = start + data.draw(st.integers(1, 2 * NS_PER_DAY))
    sev = data.draw(st.integers(1, 1000))
    got, more = reopened.query(start, end, min_severity=sev, source="acme.*", max_count=10**9)
    assert not more
    assert got == [e for e in want if start <= e.time_ns < end and e.severity >= sev
                   and e.source.startswith("acme.")]  # fmt: skip
    # paging by (time, id) visits every match once, in order
    page, after, seen = data.draw(st.integers(1, 4)), None, []
    while True:
        items, more = reopened.query(-FAR, FAR, after=after, max_count=page)
        seen += items
        if not more:
            break
        after = (items[-1].time_ns, items[-1].id)
    assert seen == want


def test_segment_per_day_and_dedupe_across_reopen(tmp_path: Path) -> None:
    store = EventStore(tmp_path)
    assert store.append([ev(1, BASE), ev(2, BASE + NS_PER_DAY), ev(1, BASE + 5)]) == 2
    assert sorted(os.listdir(tmp_path)) == [segment_name(20454), segment_name(20455)]
    store.close()
    again = EventStore(tmp_path)
    assert again.append([ev(1, BASE), ev(3, BASE + 1)]) == 1
    assert [e.id for e in all_events(again)] == ["e1", "e3", "e2"]


def test_torn_tail_is_cut_and_reported(tmp_path: Path) -> None:
    store = EventStore(tmp_path)
    store.append([ev(i, BASE + i) for i in range(5)])
    store.close()
    path = tmp_path / segment_name(20454)
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.truncate(size - 7)  # the last record lost its end in a crash before its fsync
    torn = EventStore(tmp_path)
    assert [e.id for e in all_events(torn)] == ["e0", "e1", "e2", "e3"]
    assert torn.open_report["torn_tails"][0]["why"] == "incomplete record"  # type: ignore[index]
    assert torn.append([ev(9, BASE + 9)]) == 1  # appends continue after the cut
    torn.close()
    assert [e.id for e in all_events(EventStore(tmp_path))] == ["e0", "e1", "e2", "e3", "e9"]


def test_zero_filled_tail_is_torn(tmp_path: Path) -> None:
    store = EventStore(tmp_path)
    store.append([ev(1, BASE)])
    store.close()
    with (tmp_path / segment_name(20454)).open("ab") as f:
        f.write(bytes(300))
    assert [e.id for e in all_events(EventStore(tmp_path))] == ["e1"]


def test_damage_before_the_tail_is_refused(tmp_path: Path) -> None:
    store = EventStore(tmp_path)
    store.append([ev(i, BASE + i) for i in range(3)])
    store.close()
    path = tmp_path / segment_name(20454)
    data = bytearray(path.read_bytes())
    data[HEADER.size + 12] ^= 0x01  # inside the first record's payload
    path.write_bytes(bytes(data))
    with pytest.raises(
        EventStoreCorruptError, match=r"is damaged \(checksum mismatch\) and is not"
    ):
        EventStore(tmp_path)
    assert path.read_bytes() == bytes(data)  # nothing was cut


def test_bad_header_is_refused(tmp_path: Path) -> None:
    (tmp_path / segment_name(20454)).write_bytes(b"NOTEVT\x01\x00" + bytes(40))
    with pytest.raises(EventStoreCorruptError, match="not a twinbench event segment"):
        EventStore(tmp_path)


def test_failed_fsync_leaves_nothing_and_store_stays_usable(tmp_path: Path) -> None:
    fs = FaultyFileSystem(Faults())
    store = EventStore(tmp_path, fs)
    store.append([ev(1, BASE)])
    fs.faults.fsync_error = True
    with pytest.raises(OSError, match="fsync"):
        store.append([ev(2, BASE + 1), ev(3, BASE + NS_PER_DAY)])
    assert "e2" not in store and "e3" not in store
    fs.faults.fsync_error = False
    assert store.append([ev(2, BASE + 1)]) == 1
    store.close()
    assert [e.id for e in all_events(EventStore(tmp_path))] == ["e1", "e2"]


def test_an_append_returns_only_after_fsync(tmp_path: Path) -> None:
    fs = FaultyFileSystem(Faults())
    store = EventStore(tmp_path, fs)
    store.append([ev(1, BASE), ev(2, BASE + NS_PER_DAY)])
    fs.crash()  # a power cut right after append returned: everything is still there
    assert [e.id for e in all_events(EventStore(tmp_path))] == ["e1", "e2"]


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        (
            {"id": "a", "time_ns": 1, "source": "s", "kind": "nope", "severity": 5, "message": ""},
            "kind",
        ),
        (
            {"id": "a", "time_ns": 1, "source": "s", "kind": "trip", "severity": 0, "message": ""},
            "severity",
        ),
        (
            {
                "id": "a",
                "time_ns": "1",
                "source": "s",
                "kind": "trip",
                "severity": 5,
                "message": "",
            },
            "time_ns",
        ),
        ({"id": "a", "time_ns": 1, "source": "s", "kind": "trip", "severity": 5}, "lacks"),
        (
            {
                "id": "a",
                "time_ns": 1,
                "source": "s",
                "kind": "trip",
                "severity": 5,
                "message": "",
                "x": 1,
            },
            "unknown",
        ),
    ],
)
def test_invalid_events_say_what_is_wrong(doc: dict[str, object], match: str) -> None:
    with pytest.raises(EventFormatError, match=match):
        Event.from_fields(doc)
