"""The compression corpus: real NAB recordings plus deterministic synthetic plant signals.

Synthetic series come from ``numpy.random.default_rng(CORPUS_SEED + i)`` and
model what plant historians hold (see ``reports/corpus/README.md``). Each
generator is a few lines on purpose: the regression gate needs identical
bytes on every run, not a plant model (that lives in ``sim/``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from historian.codec.readers import read_csv

CORPUS_SEED = 20261125
POINTS = 43_200  # 12 h at 1 Hz per synthetic series
T0 = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CORPUS_DIR = REPO_ROOT / "reports" / "corpus"


@dataclass(frozen=True, slots=True)
class CorpusSeries:
    name: str
    ts: NDArray[np.int64]
    values: NDArray[np.float64]
    quality: NDArray[np.uint16]
    real: bool
    """True for recordings of real sensors (the targets are stated for these)."""


Arrays = tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.uint16]]


def _regular_ts(n: int, period_s: float = 1.0) -> NDArray[np.int64]:
    return T0 + (np.arange(n, dtype=np.int64) * int(period_s * 1e9))


def _jittered_ts(rng: np.random.Generator, n: int) -> NDArray[np.int64]:
    """1 Hz collector timestamps: ms resolution, +-20 ms jitter, a few gaps."""
    ts = _regular_ts(n) + rng.integers(-20, 21, n) * 1_000_000
    gaps = np.zeros(n, np.int64)
    gaps[rng.integers(0, n, 5)] = rng.integers(5, 600, 5) * 10**9
    return np.sort(ts + np.cumsum(gaps))


def _good(n: int) -> NDArray[np.uint16]:
    return np.zeros(n, np.uint16)


def _smooth(rng: np.random.Generator, n: int, level: float, swing: float) -> NDArray[np.float64]:
    """Slow process value: daily-ish sine + AR(1) drift, as a PID-held variable looks."""
    t = np.arange(n)
    drift = np.cumsum(rng.normal(0, swing / 300, n))
    drift -= np.convolve(drift, np.ones(600) / 600, mode="same")  # keep it bounded
    return level + swing * np.sin(2 * np.pi * t / 20_000) + drift


def process_temperature_2dp(rng: np.random.Generator) -> Arrays:
    v = np.round(_smooth(rng, POINTS, 85.0, 3.0) + rng.normal(0, 0.05, POINTS), 2)
    q = _good(POINTS)
    q[20_000:20_120] = 0x808C  # BadSensorFailure interval
    return _jittered_ts(rng, POINTS), v, q


def level_1dp(rng: np.random.Generator) -> Arrays:
    v = np.round(_smooth(rng, POINTS, 62.0, 8.0) + rng.normal(0, 0.2, POINTS), 1)
    return _regular_ts(POINTS), v, _good(POINTS)


def flow_adc12(rng: np.random.Generator) -> Arrays:
    """12-bit ADC counts scaled to 0..250 m3/h the way a PLC does it."""
    true = _smooth(rng, POINTS, 140.0, 25.0) + rng.normal(0, 0.4, POINTS)
    counts = np.clip(np.round(true / 250.0 * 4095), 0, 4095)
    return _jittered_ts(rng, POINTS), counts * (250.0 / 4095), _good(POINTS)


def pressure_adc16(rng: np.random.Generator) -> Arrays:
    """16-bit ADC counts scaled to -1..16 bar (offset + span)."""
    true = _smooth(rng, POINTS, 7.5, 1.5) + rng.normal(0, 0.002, POINTS)
    counts = np.clip(np.round((true + 1.0) / 17.0 * 65535), 0, 65535)
    return _regular_ts(POINTS), -1.0 + counts * (17.0 / 65535), _good(POINTS)


def motor_current_float32(rng: np.random.Generator) -> Arrays:
    """A device publishing OPC UA Float (float32) values: no decimal underneath."""
    v = (_smooth(rng, POINTS, 42.0, 4.0) + rng.normal(0, 0.3, POINTS)).astype(np.float32)
    return _jittered_ts(rng, POINTS), np.asarray(v, dtype=np.float64), _good(POINTS)


def setpoint_steps(rng: np.random.Generator) -> Arrays:
    """Operator setpoint: holds for minutes to hours, then steps."""
    changes = np.sort(rng.integers(0, POINTS, 12))
    v = np.round(
        70.0 + np.cumsum(np.isin(np.arange(POINTS), changes) * rng.normal(0, 2, POINTS)), 1
    )
    return _regular_ts(POINTS), v, _good(POINTS)


def pump_running_digital(rng: np.random.Generator) -> Arrays:
    """0/1 run state with a few trips; Bad quality while the link was down."""
    toggles = np.isin(np.arange(POINTS), rng.integers(0, POINTS, 9))
    v = (np.cumsum(toggles) % 2).astype(np.float64)
    q = _good(POINTS)
    q[30_000:30_900] = 0x808A  # BadNotConnected
    return _regular_ts(POINTS), v, q


def energy_counter_kwh(rng: np.random.Generator) -> Arrays:
    """Totaliser: monotone, 3 decimals, sampled every 10 s."""
    v = np.round(1_234_567.0 + np.cumsum(rng.gamma(2.0, 0.02, POINTS)), 3)
    return _regular_ts(POINTS, 10.0), v, _good(POINTS)


def stuck_sensor(rng: np.random.Generator) -> Arrays:
    """Healthy 2-decimal readings, then stuck at the last value for most of the chunk."""
    v = np.round(_smooth(rng, POINTS, 20.0, 1.0) + rng.normal(0, 0.05, POINTS), 2)
    v[5_000:] = v[4_999]
    return _regular_ts(POINTS), v, _good(POINTS)


def vibration_spiky(rng: np.random.Generator) -> Arrays:
    """Vibration RMS in mm/s at 3 decimals with rare large spikes."""
    v = np.abs(rng.normal(2.0, 0.15, POINTS))
    spikes = rng.random(POINTS) < 0.002
    v[spikes] += rng.exponential(15.0, int(spikes.sum()))
    return _jittered_ts(rng, POINTS), np.round(v, 3).astype(np.float64), _good(POINTS)


def transformer_oil_float32_3dp(rng: np.random.Generator) -> Arrays:
    """Hourly telemetry whose 3-decimal readings travel as float32 (``5.827000141143799``)."""
    n = POINTS // 4
    t = np.arange(n)
    true = 30 + 8 * np.sin(2 * np.pi * t / 24) + np.cumsum(rng.normal(0, 0.3, n)) * 0.2
    v = np.round(true + rng.normal(0, 0.4, n), 3).astype(np.float32)
    return _regular_ts(n, 3600.0), v.astype(np.float64), _good(n)


def flow_adc12_float32(rng: np.random.Generator) -> Arrays:
    """12-bit counts scaled to 0..250 m3/h in a PLC's REAL (float32) arithmetic."""
    true = _smooth(rng, POINTS, 140.0, 25.0) + rng.normal(0, 0.4, POINTS)
    counts = np.clip(np.round(true / 250.0 * 4095), 0, 4095).astype(np.float32)
    v = counts * np.float32(250.0 / 4095) + np.float32(0.0)
    return _jittered_ts(rng, POINTS), v.astype(np.float64), _good(POINTS)


SYNTHETIC: tuple[Callable[[np.random.Generator], Arrays], ...] = (
    process_temperature_2dp,
    level_1dp,
    flow_adc12,
    pressure_adc16,
    motor_current_float32,
    setpoint_steps,
    pump_running_digital,
    energy_counter_kwh,
    stuck_sensor,
    vibration_spiky,
    transformer_oil_float32_3dp,
    flow_adc12_float32,
)

NAB_FILES = ("machine_temperature_system_failure.csv", "ambient_temperature_system_failure.csv")
PACKAGE_FILES = ("statsmodels/co2_mauna_loa_weekly.csv",)
"""Real recordings a Python package ships (each directory has its PROVENANCE.md)."""


def load_corpus(corpus_dir: Path = DEFAULT_CORPUS_DIR) -> list[CorpusSeries]:
    """Every corpus series, in a fixed order: the real recordings first."""
    out: list[CorpusSeries] = []
    for name in NAB_FILES:
        fs = read_csv(corpus_dir / "nab" / name)
        ts, values = fs.series["value"]
        out.append(
            CorpusSeries(f"nab/{name.removesuffix('.csv')}", ts, values, _good(ts.size), True)
        )
    for rel in PACKAGE_FILES:
        fs = read_csv(corpus_dir / rel)
        ts, values = fs.series["value"]
        out.append(CorpusSeries(rel.removesuffix(".csv"), ts, values, _good(ts.size), True))
    for i, make in enumerate(SYNTHETIC):
        ts, values, quality = make(np.random.default_rng(CORPUS_SEED + i))
        out.append(CorpusSeries(f"synthetic/{make.__name__}", ts, values, quality, False))
    return out
