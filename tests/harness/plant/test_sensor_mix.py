"""A scenario's sensor-fault mix lands on the plant catalogue in the stated fractions."""

from __future__ import annotations

from pathlib import Path

from harness.plant.sensor_mix import apply_fault_mix
from harness.scenario import SensorFaultMix
from sim.catalogue_gen import generate_oilfield
from sim.tags import dump_catalogue, load_catalogue


def test_fractions_determinism_and_validity(tmp_path: Path) -> None:
    cat = generate_oilfield(20)  # 200 tags
    mix = SensorFaultMix(noise=1.0, quantization=0.5, spikes=0.25, stuck=0.1, bad_quality=0.0)
    out = apply_fault_mix(cat, mix, seed=7)
    tags = out.tags
    assert sum(t.sensor.noise_sigma > 0 for t in tags) == 200
    assert sum(t.sensor.adc_bits == 12 for t in tags) == 100
    assert sum(t.sensor.spike_rate_per_hour > 0 for t in tags) == 50
    assert sum(t.sensor.stuck_probability > 0 for t in tags) == 20
    assert sum(t.sensor.bad_quality_probability > 0 for t in tags) == 0
    assert sum(t.sensor.drift_per_hour > 0 for t in tags) == 0  # absent kinds are zeroed
    assert apply_fault_mix(cat, mix, seed=7) == out
    assert apply_fault_mix(cat, mix, seed=8) != out
    dump_catalogue(out, tmp_path / "c.toml")  # still a valid catalogue
    assert load_catalogue(tmp_path / "c.toml").tags == out.tags
