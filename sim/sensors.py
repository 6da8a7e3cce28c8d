"""Measurement models: what a field instrument does to the true plant value.

Per tag (from the catalogue's ``[tag.sensor]``), vectorised over all tags of a
twin: Gaussian noise, linear drift, Poisson spikes, clipping to the instrument
range, ADC quantisation, stuck-at episodes, dropouts (no sample), bad-quality
intervals and a constant clock skew on the source timestamp. Quality is the
historian's 16-bit code (top half of an OPC UA StatusCode).

Everything random comes from one seeded ``numpy`` generator drawn in a fixed
order, so the same seed and the same true values give identical readings.

>>> import numpy as np
>>> from sim.catalogue_gen import generate_oilfield
>>> cat = generate_oilfield(1, seed=0)
>>> sa = SensorArray(cat.tags, seed=1, tick_s=1.0)
>>> r = sa.apply(np.full(len(cat), 50.0), t_ns=0)
>>> r.values.shape, r.quality.dtype.name, bool(r.emit.all())
((10,), 'uint16', True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from historian.model import Quality
from sim.tags import Tag

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Reading:
    """One tick of every tag: value, quality, source timestamp, and whether a sample exists."""

    values: FloatArray
    quality: NDArray[np.uint16]
    ts: NDArray[np.int64]
    emit: NDArray[np.bool_]


class SensorArray:
    """The sensor models of a list of tags, with their episode state."""

    def __init__(self, tags: Sequence[Tag], seed: int, tick_s: float) -> None:
        self.n = n = len(tags)
        self.tick_s = tick_s
        # the first series id salts the stream: server processes serving other
        # slices of one catalogue with the same seed must not share their noise
        salt = tags[0].id if n else 0
        self.rng = np.random.default_rng([seed, 0x5E4502, salt])

        def col(name: str) -> FloatArray:
            return np.array([float(getattr(t.sensor, name)) for t in tags], dtype=np.float64)

        self.low = np.array([t.low for t in tags], dtype=np.float64)
        self.high = np.array([t.high for t in tags], dtype=np.float64)
        self.sigma = col("noise_sigma")
        bits = col("adc_bits")
        with np.errstate(divide="ignore"):
            self.adc_step = np.where(bits > 0, (self.high - self.low) / (2.0**bits - 1.0), 0.0)
        sign = np.where(self.rng.random(n) < 0.5, -1.0, 1.0)
        self.drift_per_s = col("drift_per_hour") * sign / 3600.0
        self.spike_p = col("spike_rate_per_hour") * tick_s / 3600.0
        self.spike_mag = col("spike_magnitude")
        self.stuck_p, self.stuck_s = col("stuck_probability"), col("stuck_s")
        self.drop_p, self.drop_s = col("dropout_probability"), col("dropout_s")
        self.bad_p, self.bad_s = col("bad_quality_probability"), col("bad_quality_s")
        self.skew_ns = np.round(col("clock_skew_ms") * 1e6).astype(np.int64)
        self.stuck_left = np.zeros(n)
        self.drop_left = np.zeros(n)
        self.bad_left = np.zeros(n)
        self.stuck_value = np.zeros(n)
        self.last = np.zeros(n)
        self.elapsed_s = 0.0

    def _episodes(self, left: FloatArray, p: FloatArray, mean_s: FloatArray) -> None:
        start = (left <= 0.0) & (self.rng.random(self.n) < p)
        if start.any():
            left[start] = self.rng.exponential(mean_s[start]) + self.tick_s

    def apply(self, true: FloatArray, t_ns: int) -> Reading:
        """Readings for the true values at sim time ``t_ns``; advances episode state by a tick."""
        rng = self.rng
        if self.elapsed_s == 0.0:
            self.last = np.array(true, dtype=np.float64)  # a sensor stuck at t=0 holds the truth
        noise = rng.standard_normal(self.n)
        spike = rng.random(self.n) < self.spike_p
        spike_sign = np.where(rng.random(self.n) < 0.5, -1.0, 1.0)
        newly_stuck = self.stuck_left <= 0.0
        self._episodes(self.stuck_left, self.stuck_p, self.stuck_s)
        self._episodes(self.drop_left, self.drop_p, self.drop_s)
        self._episodes(self.bad_left, self.bad_p, self.bad_s)

        v = true + self.drift_per_s * self.elapsed_s + self.sigma * noise
        v = v + np.where(spike, spike_sign * self.spike_mag, 0.0)
        # the process itself beyond the instrument range is Uncertain; noise is just clipped
        exceeded = (true < self.low) | (true > self.high)
        v = np.clip(v, self.low, self.high)
        q = self.adc_step > 0
        if q.any():
            v[q] = (
                self.low[q] + np.round((v[q] - self.low[q]) / self.adc_step[q]) * self.adc_step[q]
            )
        stuck = self.stuck_left > 0.0
        starting = stuck & newly_stuck
        self.stuck_value[starting] = self.last[starting]
        v[stuck] = self.stuck_value[stuck]

        quality = np.where(exceeded, Quality.UNCERTAIN_EU_EXCEEDED, Quality.GOOD).astype(np.uint16)
        quality[self.bad_left > 0.0] = Quality.BAD_SENSOR_FAILURE
        emit = self.drop_left <= 0.0
        ts = np.int64(t_ns) + self.skew_ns

        for left in (self.stuck_left, self.drop_left, self.bad_left):
            np.subtract(left, self.tick_s, out=left)
        self.last = v
        self.elapsed_s += self.tick_s
        return Reading(v, quality, ts, emit)
