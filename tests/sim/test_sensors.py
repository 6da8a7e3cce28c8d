"""Sensor models: each imperfection does what the catalogue says, deterministically."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from historian.model import Quality
from sim.catalogue_gen import generate_oilfield
from sim.sensors import SensorArray
from sim.tags import SensorSpec, Tag


def _tags(n: int, **spec: float) -> list[Tag]:
    base = generate_oilfield(1).tags[0]  # tubing pressure, 0..5000 psi
    return [
        replace(base, id=i + 1, path=f"a.b.c.d.e.f.t{i}", sensor=SensorSpec(**spec))  # type: ignore[arg-type]
        for i in range(n)
    ]


def test_noise_sigma() -> None:
    sa = SensorArray(_tags(4000, noise_sigma=5.0), seed=1, tick_s=1.0)
    r = sa.apply(np.full(4000, 1000.0), 0)
    assert abs(np.std(r.values - 1000.0) - 5.0) < 0.3
    assert np.all(r.quality == Quality.GOOD) and r.emit.all()


def test_adc_quantisation() -> None:
    sa = SensorArray(_tags(100, noise_sigma=3.0, adc_bits=8), seed=1, tick_s=1.0)
    v = sa.apply(np.linspace(100, 4900, 100), 0).values
    step = 5000.0 / 255.0
    np.testing.assert_allclose(v / step, np.round(v / step), atol=1e-9)


def test_drift_grows_linearly() -> None:
    sa = SensorArray(_tags(10, drift_per_hour=36.0), seed=2, tick_s=1.0)
    for _ in range(100):
        r = sa.apply(np.full(10, 1000.0), 0)
    # tubing pressure is a float32 transmitter reporting 0.1 psi: the drift, to that resolution
    np.testing.assert_allclose(np.abs(r.values - 1000.0), 36.0 * 99 / 3600.0, atol=0.05)


def test_instrument_chain_damps_noise_and_reports_decimals() -> None:
    """Damped noise keeps its sigma, gets the NAB-calibrated spectrum, lands on the 0.1 psi grid."""
    sa = SensorArray(_tags(200, noise_sigma=5.0), seed=11, tick_s=1.0)
    v = np.array([sa.apply(np.full(200, 2500.0), k).values for k in range(400)])
    np.testing.assert_array_equal(np.round(v * 10) / 10, v)  # m / 10^1, exactly
    assert 4.6 < float(np.std(v)) < 5.4
    d = np.diff(v, axis=0)
    ac1 = float(np.mean(d[1:] * d[:-1]) / np.mean(d * d))
    assert -0.3 < ac1 < -0.2  # white noise would give -0.5; NAB recordings show -0.25


def test_clipping_and_eu_exceeded() -> None:
    sa = SensorArray(_tags(3, noise_sigma=50.0), seed=3, tick_s=1.0)
    r = sa.apply(np.array([0.0, 2500.0, 6000.0]), 0)
    assert r.values.min() >= 0.0 and r.values.max() <= 5000.0
    assert r.quality.tolist() == [Quality.GOOD, Quality.GOOD, Quality.UNCERTAIN_EU_EXCEEDED]


def test_dropout_stuck_bad_episodes() -> None:
    n, ticks = 200, 200
    sa = SensorArray(
        _tags(
            n,
            noise_sigma=1.0,
            stuck_probability=0.01,
            stuck_s=20.0,
            dropout_probability=0.01,
            dropout_s=10.0,
            bad_quality_probability=0.01,
            bad_quality_s=20.0,
        ),
        seed=4,
        tick_s=1.0,
    )
    emitted = bad = repeats = 0
    prev = None
    for k in range(ticks):
        r = sa.apply(np.full(n, 1000.0 + k), k)
        emitted += int(r.emit.sum())
        bad += int((r.quality == Quality.BAD_SENSOR_FAILURE).sum())
        if prev is not None:
            repeats += int((r.values == prev).sum())  # noisy values repeat only when stuck
        prev = r.values
    total = n * ticks
    # p=0.01 per sample, mean episode ~11 ticks -> roughly 10 % of samples in each state
    assert 0.03 * total < total - emitted < 0.2 * total
    assert 0.05 * total < bad < 0.3 * total
    assert 0.05 * total < repeats < 0.3 * total


def test_clock_skew() -> None:
    sa = SensorArray(_tags(2, clock_skew_ms=-12.5), seed=5, tick_s=1.0)
    r = sa.apply(np.zeros(2), 1_000_000_000)
    assert r.ts.tolist() == [1_000_000_000 - 12_500_000] * 2


def test_spikes() -> None:
    sa = SensorArray(
        _tags(1000, spike_rate_per_hour=360.0, spike_magnitude=400.0), seed=6, tick_s=1.0
    )
    hits = sum(int((np.abs(sa.apply(np.full(1000, 2500.0), 0).values - 2500.0) == 400.0).sum())
               for _ in range(20))  # fmt: skip
    assert 1700 < hits < 2300  # p = 0.1 per sample, 20,000 samples


def test_same_seed_same_readings() -> None:
    tags = generate_oilfield(5, seed=9).tags
    a, b = SensorArray(tags, 7, 1.0), SensorArray(tags, 7, 1.0)
    c = SensorArray(tags, 8, 1.0)
    true = np.linspace(10, 40, len(tags))
    ra, rb, rc = (s.apply(true, 0) for s in (a, b, c))
    assert np.array_equal(ra.values, rb.values) and np.array_equal(ra.quality, rb.quality)
    assert not np.array_equal(ra.values, rc.values)
