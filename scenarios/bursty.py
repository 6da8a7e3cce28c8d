"""bursty: square-wave and Poisson bursts at 10x the nominal rate.

Bursts model a shift change or an alarm flood: the bus must absorb them and
the historian drain them without loss or duplicates; latency is judged on the
nominal-rate stretches only (a 10x burst is allowed to queue).
"""

from __future__ import annotations

from harness.scenario import LoadPhase, Scenario, SensorFaultMix, default_thresholds

NOMINAL = 50_000.0

SCENARIO = Scenario(
    name="bursty",
    description="10x bursts (square wave, then Poisson) over the nominal rate: no loss, no dups.",
    profile="peak",
    duration_s=120.0,
    warmup_s=15.0,
    seed=202,
    nominal_rate_pts_s=NOMINAL,
    load=(
        LoadPhase("warm-up", "steady", 15.0, NOMINAL),
        LoadPhase(
            "steady", "square-bursts", 60.0, NOMINAL, burst_factor=10.0, burst_s=3.0, period_s=15.0
        ),
        LoadPhase(
            "steady", "poisson-bursts", 45.0, NOMINAL, burst_factor=10.0, burst_s=2.0, period_s=10.0
        ),
    ),
    sensor_fault_mix=SensorFaultMix(noise=1.0, spikes=0.1),
    thresholds=default_thresholds(),
)
