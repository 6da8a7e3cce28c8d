"""The twin's happenings as plant events: alarms, trips, operator actions, refused writes."""

from __future__ import annotations

import numpy as np
import pytest

from sim.catalogue_gen import generate_oilfield
from sim.errors import SetpointOutOfRangeError
from sim.events import AlarmMonitor, EventConfig
from sim.plant_events import PlantEventFeed
from sim.twin import PlantTwin

QUIET = EventConfig(trip_mtbf_s=1e12, valve_mean_s=1e12, operator_mean_s_day=1e12,
                    operator_mean_s_night=1e12, maintenance_every_s=1e12)  # fmt: skip
T0 = 1_767_225_600 * 10**9


def _twin(
    *, trip_mtbf_s: float = QUIET.trip_mtbf_s, restart_mean_s: float = QUIET.restart_mean_s
) -> PlantTwin:
    from dataclasses import replace

    cfg = replace(QUIET, trip_mtbf_s=trip_mtbf_s, restart_mean_s=restart_mean_s)
    return PlantTwin(generate_oilfield(2, seed=1), seed=3, start_ns=T0, event_config=cfg)


def test_limit_alarm_raised_then_cleared() -> None:
    twin = _twin()
    feed = PlantEventFeed(twin)
    vib = next(i for i, t in enumerate(twin.tags) if t.sensor_name == "vibration")
    n = len(twin.tags)
    hi = np.full(n, np.nan)
    hi[vib] = -1.0  # any vibration is above it: raised after the 2 s on-delay
    nan = np.full(n, np.nan)
    twin.alarms = AlarmMonitor(nan, hi, nan, nan, np.zeros(n), np.full(n, 2.0))
    raised = [e for _ in range(4) for e in feed.collect(twin.step()) if e.kind == "alarm-raised"]
    assert len(raised) == 1
    e = raised[0]
    assert (e.source, e.condition, e.severity, e.limit) == (twin.tags[vib].path, "HI", 700, -1.0)
    assert e.value is not None and e.value > -1.0 and "vibration HI raised" in e.message
    assert e.time_ns == T0 + 3 * 10**9  # the tick the on-delay ran out, in the twin's clock
    twin.alarms.limits[1, vib] = 1e9  # far above: cleared at once
    cleared = [e for e in feed.collect(twin.step()) if e.kind == "alarm-cleared"]
    assert [(c.source, c.condition) for c in cleared] == [(twin.tags[vib].path, "HI")]


def test_trips_and_restarts_name_the_well() -> None:
    twin = _twin(trip_mtbf_s=30.0, restart_mean_s=20.0)
    feed = PlantEventFeed(twin)
    events = [e for _ in range(300) for e in feed.collect(twin.step())]
    trips = [e for e in events if e.kind == "trip"]
    assert trips and all(e.severity == 800 and e.source.endswith(("well_0001", "well_0002"))
                         for e in trips)  # fmt: skip
    assert any(e.kind == "state" and "restarted" in e.message for e in events)
    assert len({e.id for e in events}) == len(events)
    again = _twin(trip_mtbf_s=30.0, restart_mean_s=20.0)  # seeded: the same events again
    feed2 = PlantEventFeed(again, origin=feed.origin)
    assert [e for _ in range(300) for e in feed2.collect(again.step())] == events


def test_operator_writes_and_refused_writes() -> None:
    twin = _twin()
    feed = PlantEventFeed(twin)
    sp = next(t for t in twin.tags if t.sensor_name == "pump_speed")
    twin.write(sp.path, 3000.0)
    with pytest.raises(SetpointOutOfRangeError):
        twin.write(sp.path, sp.high + 1)
    events = feed.collect(twin.step())
    kinds = {e.kind: e for e in events}
    assert kinds["operator-action"].source == sp.path and kinds["operator-action"].value == 3000.0
    assert kinds["limit"].limit == sp.high and "refused" in kinds["limit"].message
    assert feed.collect(twin.step()) == []  # nothing is reported twice


@pytest.mark.parametrize("name", ["sim.plant_events", "historian.events.model"])
def test_docstring_examples(name: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0
