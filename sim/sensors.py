"""Measurement models: what a field instrument does to the true plant value.

Per tag (from the catalogue's ``[tag.sensor]``), vectorised over all tags of a
twin: Gaussian noise, linear drift, Poisson spikes, clipping to the instrument
range, ADC quantisation, stuck-at episodes, dropouts (no sample), bad-quality
intervals and a constant clock skew on the source timestamp. Quality is the
historian's 16-bit code (top half of an OPC UA StatusCode).

Analog tags also pass through a transmitter's instrument chain: the noise
is shaped by a first-order-lag damping filter (``noise_sigma`` stays the
output's standard deviation; only its spectrum changes) and float32 tags are
reported at a fixed resolution of about span / 10^4..10^5 (0.1 psi on a
5,000 psi range), which the servers then put on the wire as float32. Real
transmitters never emit continuous noise at float32 precision; stored
unquantised, such tags cost 3.6-10 bytes per point instead of ~1.

Calibration: the damping constant reproduces the lag-1 autocorrelation of
the first differences of the real NAB recordings in ``reports/corpus/nab/``
(-0.246 machine temperature, -0.268 ambient temperature). Differences of
first-order-lag noise have lag-1 autocorrelation ``-alpha / 2``, so
``alpha = 0.5`` per sample, i.e. a time constant of ``1 / ln 2 = 1.44``
sample periods (:data:`DAMPING_SAMPLES`).

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

DAMPING_SAMPLES = 1.0 / np.log(2.0)
"""Transmitter damping time constant in sample periods (calibrated, see the module doc)."""
REPORT_COUNTS = 10_000.0
"""A float32 transmitter reports at the power of ten at or below span / REPORT_COUNTS."""


def report_step(span: float) -> float:
    """Reporting resolution of a float32 transmitter: 0.1 for 5,000, 0.01 for 200, 0.001 for 50."""
    if not span > 0:
        return 0.0
    return float(10.0 ** np.floor(np.log10(span / REPORT_COUNTS)))


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
        # instrument chain: damped noise on analog tags, reporting resolution on float32 ones
        analog = np.array([t.dtype != "bool" for t in tags], dtype=bool)
        alpha = 1.0 - np.exp(-1.0 / DAMPING_SAMPLES)
        self.damp_alpha = np.where(analog, alpha, 1.0)
        # raw noise scaled so the damped output keeps noise_sigma: var = a / (2 - a) * raw
        self.raw_sigma = self.sigma / np.sqrt(self.damp_alpha / (2.0 - self.damp_alpha))
        self.damped_noise = np.zeros(n)
        steps = np.array([report_step(t.high - t.low) for t in tags], dtype=np.float64)
        # a coarse ADC's scaled counts are what it reports: no rounding on top of them
        report = np.array([t.dtype == "float32" for t in tags]) & (self.adc_step < steps)
        self.report_scale = np.where(report, 1.0 / np.where(steps > 0, steps, 1.0), 0.0)
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
        noise = rng.standard_normal(self.n)
        if self.elapsed_s == 0.0:
            self.last = np.array(true, dtype=np.float64)  # a sensor stuck at t=0 holds the truth
            self.damped_noise = self.sigma * noise  # start the filter in its stationary state
        else:
            a = self.damp_alpha
            self.damped_noise += a * (self.raw_sigma * noise - self.damped_noise)
        spike = rng.random(self.n) < self.spike_p
        spike_sign = np.where(rng.random(self.n) < 0.5, -1.0, 1.0)
        newly_stuck = self.stuck_left <= 0.0
        self._episodes(self.stuck_left, self.stuck_p, self.stuck_s)
        self._episodes(self.drop_left, self.drop_p, self.drop_s)
        self._episodes(self.bad_left, self.bad_p, self.bad_s)

        v = true + self.drift_per_s * self.elapsed_s + self.damped_noise
        v = v + np.where(spike, spike_sign * self.spike_mag, 0.0)
        # the process itself beyond the instrument range is Uncertain; noise is just clipped
        exceeded = (true < self.low) | (true > self.high)
        v = np.clip(v, self.low, self.high)
        q = self.adc_step > 0
        if q.any():
            v[q] = (
                self.low[q] + np.round((v[q] - self.low[q]) / self.adc_step[q]) * self.adc_step[q]
            )
        r = self.report_scale > 0
        if r.any():  # m / 10^d: the decimal a transmitter reports (float32 on the wire)
            v[r] = np.round(v[r] * self.report_scale[r]) / self.report_scale[r]
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
