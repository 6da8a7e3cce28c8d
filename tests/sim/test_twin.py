"""The twin runner: determinism, writes, emitted log."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.catalogue_gen import generate_oilfield
from sim.emitted import read_emitted
from sim.errors import NotWritableError, SetpointOutOfRangeError, UnknownTagError
from sim.events import EventConfig
from sim.twin import PlantTwin


def _streams(seed: int, ticks: int = 120) -> list[np.ndarray]:
    twin = PlantTwin(generate_oilfield(20, seed=1), seed=seed, start_ns=0)
    out: list[np.ndarray] = []
    for r in twin.run(ticks):
        b = r.batch()
        out += [b.series, b.ts, b.values, b.quality]
    return out


def test_same_seed_identical_streams() -> None:
    a, b = _streams(5), _streams(5)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    c = _streams(6)
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_batches_are_catalogue_tags_at_tick_times() -> None:
    cat = generate_oilfield(5)
    twin = PlantTwin(cat, seed=1, start_ns=10**18)
    r = twin.step()
    b = r.batch()
    assert set(b.series.tolist()) <= {t.id for t in cat.tags}
    assert np.all(np.abs(b.ts - (10**18 + 10**9)) <= 50_000_000)  # skew <= 50 ms
    b.validate(known_series=cat.series_index())


def test_values_representable_on_modbus() -> None:
    cat = generate_oilfield(3)
    r = PlantTwin(cat, seed=2, start_ns=0).step()
    for t, v in zip(cat.tags, r.values, strict=True):
        if t.modbus.encoding == "float32":
            assert float(np.float32(v)) == v
        else:
            raw = (v - t.modbus.offset) / t.modbus.scale
            assert abs(raw - round(raw)) < 1e-6


def test_setpoint_write_reaches_model() -> None:
    cat = generate_oilfield(2)
    twin = PlantTwin(cat, seed=1, start_ns=0, events=False)
    sp = "acme.permian.field_01.pad_01.well_0002.esp.pump_speed"
    seq = twin.write(sp, 3600.0)
    r = twin.step()
    assert r.applied_write_seq == seq
    assert r.values[twin.resolve(sp)] == 3600.0
    twin.run(30)
    assert twin.outputs["speed"][1] > 3500 and twin.outputs["speed"][0] == pytest.approx(2880)


def test_pump_stop_and_start() -> None:
    twin = PlantTwin(generate_oilfield(2), seed=1, start_ns=0, events=False)
    twin.set_pump(0, running=False)
    twin.run(60)
    assert twin.outputs["motor_current"][0] < 1.0 < twin.outputs["motor_current"][1]
    twin.set_pump("acme.permian.field_01.pad_01.well_0001.esp.vibration", running=True)
    twin.run(60)
    assert twin.outputs["motor_current"][0] > 10.0


def test_bad_writes_refused() -> None:
    twin = PlantTwin(generate_oilfield(1), seed=1, start_ns=0)
    with pytest.raises(NotWritableError, match="measurement"):
        twin.write("acme.permian.field_01.pad_01.well_0001.esp.vibration", 1.0)
    with pytest.raises(SetpointOutOfRangeError, match=r"outside \[0.0, 3600.0\] rpm"):
        twin.write(10, 4000.0)
    with pytest.raises(SetpointOutOfRangeError):
        twin.write(10, float("nan"))
    with pytest.raises(UnknownTagError, match=r"no tag 'x\.y'"):
        twin.write("x.y", 1.0)
    with pytest.raises(UnknownTagError):
        twin.set_pump(7, running=True)


def test_emitted_log_file(tmp_path: Path) -> None:
    path = tmp_path / "emitted.arrows"
    twin = PlantTwin(generate_oilfield(3), seed=1, start_ns=0, emitted_path=path)
    batches = [r.batch() for r in twin.run(10)]
    twin.close()
    back = read_emitted(path)
    mem = twin.emitted.concat()
    for col in ("series", "ts", "values", "quality"):
        assert np.array_equal(getattr(back, col), getattr(mem, col))
    assert len(back) == sum(len(b) for b in batches) == twin.emitted.total_points


def test_stress_profile_steps_fast_enough() -> None:
    # a functional smoke check of the 1,000-well vector model (timing is in the benchmark)
    from sim.catalogue_gen import generate_profile

    twin = PlantTwin(generate_profile("stress"), seed=1, start_ns=0)
    r = twin.run(3)[-1]
    assert len(r.values) == 10_000 and np.isfinite(r.values).all()


def test_slices_of_one_catalogue_do_not_share_randomness() -> None:
    # two server processes serve two slices with the same seed
    cat = generate_oilfield(20, seed=1)
    cfg = EventConfig(trip_mtbf_s=600.0, valve_mean_s=600.0)
    a = PlantTwin(cat.slice(0, 100), seed=3, start_ns=0, event_config=cfg)
    b = PlantTwin(cat.slice(100, 200), seed=3, start_ns=0, event_config=cfg)
    a.run(300)
    b.run(300)
    assert a.events is not None and b.events is not None
    times_a = [(e.t_s, e.kind, e.well) for e in a.events.log]
    times_b = [(e.t_s, e.kind, e.well) for e in b.events.log]
    assert times_a and times_b and times_a != times_b
    assert not np.allclose(a.x.reshape(7, -1)[3], b.x.reshape(7, -1)[3])  # tank levels
