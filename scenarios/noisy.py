"""noisy: the plant at nominal rate with every sensor fault the measurement model knows.

Scores fidelity under realistic dirt: noise, quantization, drift, spikes,
stuck-at, dropouts, Bad-quality intervals and clock skew on the tags, while a
Poisson bus load holds the nominal rate. Compression is judged here because
noisy, full-precision values are Gorilla's worst case.
"""

from __future__ import annotations

from harness.scenario import (
    LoadPhase,
    Scenario,
    SensorFaultMix,
    default_thresholds,
    within_compression_baseline,
)

NOMINAL = 50_000.0

SCENARIO = Scenario(
    name="noisy",
    description="Nominal rate, all sensor faults: no loss, p99 < 50 ms, bytes/point <= baseline.",
    profile="normal",
    duration_s=120.0,
    warmup_s=15.0,
    seed=101,
    nominal_rate_pts_s=NOMINAL,
    load=(
        LoadPhase("warm-up", "steady", 15.0, NOMINAL),
        LoadPhase("steady", "poisson", 105.0, NOMINAL),
    ),
    plant=True,  # the 500-tag plant with this sensor-fault mix, through real Modbus/OPC UA
    sensor_fault_mix=SensorFaultMix(
        noise=1.0,
        quantization=0.5,
        drift=0.2,
        spikes=0.2,
        stuck=0.05,
        dropouts=0.1,
        bad_quality=0.05,
        clock_skew=0.1,
    ),
    thresholds=(
        *default_thresholds(),
        within_compression_baseline(),
    ),
)
