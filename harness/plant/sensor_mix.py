"""Apply a scenario's sensor-fault mix to a plant catalogue.

``SensorFaultMix`` gives, per fault kind, the fraction of tags that get it. The
catalogue generator already draws plausible per-tag imperfections; this module
overrides them so the chosen fraction of tags (picked by a seeded permutation,
independently per fault kind) carries a clearly visible fault, and the rest
carry none of that kind. Same catalogue + mix + seed -> same catalogue.

>>> from sim.catalogue_gen import generate_oilfield
>>> from harness.scenario import SensorFaultMix
>>> cat = apply_fault_mix(generate_oilfield(2), SensorFaultMix(noise=1.0, stuck=0.5), seed=1)
>>> sum(t.sensor.stuck_probability > 0 for t in cat.tags), len(cat)
(10, 20)
"""

from __future__ import annotations

import dataclasses

import numpy as np

from harness.scenario import SensorFaultMix
from sim.tags import Catalogue, SensorSpec, Tag


def _fault_fields(kind: str, span: float, tag: Tag) -> dict[str, float | int]:
    """What "has this fault" means for one tag, in its engineering units."""
    if kind == "noise":
        return {"noise_sigma": round(span * 0.002, 6)}
    if kind == "quantization":
        return {"adc_bits": 12}
    if kind == "drift":
        return {"drift_per_hour": round(span * 0.002, 6)}
    if kind == "spikes":
        return {"spike_rate_per_hour": 60.0, "spike_magnitude": round(span * 0.1, 6)}
    if kind == "stuck":
        return {"stuck_probability": 0.002, "stuck_s": 30.0}
    if kind == "dropouts":
        return {"dropout_probability": 0.002, "dropout_s": 10.0}
    if kind == "bad_quality":
        return {"bad_quality_probability": 0.001, "bad_quality_s": 20.0}
    if kind == "clock_skew":
        return {"clock_skew_ms": 250.0}
    raise ValueError(f"unknown sensor fault kind {kind!r}")


_ABSENT: dict[str, dict[str, float | int]] = {
    "noise": {"noise_sigma": 0.0},
    "quantization": {"adc_bits": 0},
    "drift": {"drift_per_hour": 0.0},
    "spikes": {"spike_rate_per_hour": 0.0},
    "stuck": {"stuck_probability": 0.0},
    "dropouts": {"dropout_probability": 0.0},
    "bad_quality": {"bad_quality_probability": 0.0},
    "clock_skew": {"clock_skew_ms": 0.0},
}


def apply_fault_mix(cat: Catalogue, mix: SensorFaultMix, seed: int) -> Catalogue:
    rng = np.random.default_rng(seed)
    n = len(cat.tags)
    specs: list[dict[str, float | int]] = [dataclasses.asdict(t.sensor) for t in cat.tags]
    for kind, fraction in mix.as_dict().items():
        chosen = np.zeros(n, dtype=bool)
        chosen[rng.permutation(n)[: round(fraction * n)]] = True
        for i, tag in enumerate(cat.tags):
            span = tag.high - tag.low
            specs[i].update(_fault_fields(kind, span, tag) if chosen[i] else _ABSENT[kind])
    tags = tuple(
        dataclasses.replace(t, sensor=SensorSpec(**spec))  # type: ignore[arg-type]
        for t, spec in zip(cat.tags, specs, strict=True)
    )
    mix_text = ",".join(f"{k}={v:g}" for k, v in mix.as_dict().items())  # meta holds scalars
    meta = {**cat.meta, "sensor_fault_mix": mix_text, "sensor_fault_seed": seed}
    return Catalogue(tags, name=cat.name, meta=meta)
