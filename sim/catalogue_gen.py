"""Deterministic oil-field catalogues for the three load profiles.

Every well has exactly ten tags (:data:`WELL_TAGS`), so the profiles have
50 wells / 500 tags (normal), 200 / 2,000 (peak) and 1,000 / 10,000 (stress).
Series ids are ``1 + 10 * well + k``: the normal catalogue is a prefix of the peak
one, which is a prefix of the stress one, and ids never move between profiles.

The seed only changes the sensor models (noise, drift, skew, fault rates), never
ids, paths or register addresses.

>>> a, b = generate_profile("normal", seed=3), generate_profile("normal", seed=3)
>>> a == b, len(a), len(generate_profile("peak").tags)
(True, 500, 2000)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from sim.tags import Catalogue, ModbusSpec, SensorSpec, Tag

PROFILES: dict[str, int] = {"normal": 50, "peak": 200, "stress": 1000}
Profile = Literal["normal", "peak", "stress"]

WELLS_PER_UNIT = 100  # one Modbus unit id (RTU) per 100 wells
INPUT_BLOCK = 16  # input registers reserved per well (14 used)
WELLS_PER_PAD = 10
PADS_PER_FIELD = 10
ENTERPRISE, SITE = "acme", "permian"


@dataclass(frozen=True, slots=True)
class WellTagType:
    name: str
    equipment: str
    unit: str
    low: float
    high: float
    table: Literal["input", "holding"]
    offset: int  # register offset inside the well's block
    encoding: Literal["float32", "int16_scaled"]
    scale: float = 1.0
    word_order: Literal["big", "little"] = "big"
    writable: bool = False
    description: str = ""


# Ten tags per well. `flow` (gross liquid = oil / (1 - water_cut)) and `power`
# (sqrt(3) V I pf, fixed voltage) are algebraic functions of published tags, so
# the model computes them but they are not separate tags; the tenth slot is the
# writable pump speed setpoint, without which nothing on the field is controllable.
WELL_TAGS: tuple[WellTagType, ...] = (
    WellTagType("tubing_pressure", "wellhead", "psi", 0, 5000, "input", 0, "float32"),
    WellTagType("casing_pressure", "wellhead", "psi", 0, 5000, "input", 10, "int16_scaled", 0.2),
    WellTagType("temperature", "wellhead", "degF", 40, 200, "input", 11, "int16_scaled", 0.01),
    WellTagType("tank_level", "tank", "%", 0, 100, "input", 12, "int16_scaled", 0.01),
    WellTagType("gas", "separator", "mcf/d", 0, 5000, "input", 2, "float32"),
    WellTagType("oil", "separator", "bbl/d", 0, 2000, "input", 4, "float32"),
    WellTagType("water_cut", "separator", "%", 0, 100, "input", 13, "int16_scaled", 0.01),
    WellTagType("motor_current", "esp", "A", 0, 200, "input", 6, "float32"),
    WellTagType("vibration", "esp", "mm/s", 0, 50, "input", 8, "float32", word_order="little"),
    WellTagType(
        "pump_speed", "esp", "rpm", 0, 3600, "holding", 0, "float32",
        writable=True, description="pump speed setpoint; 0 stops the pump",
    ),
)  # fmt: skip
TAGS_PER_WELL = len(WELL_TAGS)
TAG_INDEX = {t.name: k for k, t in enumerate(WELL_TAGS)}
_MODICON_PREFIX = {"coil": "0", "discrete": "1", "input": "3", "holding": "4"}


def well_path_prefix(well: int) -> str:
    field = well // (WELLS_PER_PAD * PADS_PER_FIELD) + 1
    pad = (well // WELLS_PER_PAD) % PADS_PER_FIELD + 1
    return f"{ENTERPRISE}.{SITE}.field_{field:02d}.pad_{pad:02d}.well_{well + 1:04d}"


def series_id(well: int, tag_name: str) -> int:
    return 1 + TAGS_PER_WELL * well + TAG_INDEX[tag_name]


def generate_oilfield(wells: int, seed: int = 0, *, name: str | None = None) -> Catalogue:
    """The catalogue for ``wells`` wells; same arguments -> equal catalogues."""
    if not 1 <= wells <= WELLS_PER_UNIT * 247:
        raise ValueError(f"wells={wells} must be in 1..{WELLS_PER_UNIT * 247}")
    rng = np.random.default_rng(seed)
    tags: list[Tag] = []
    for well in range(wells):
        unit = 1 + well // WELLS_PER_UNIT
        slot = well % WELLS_PER_UNIT
        prefix = well_path_prefix(well)
        for tt in WELL_TAGS:
            base = slot * (INPUT_BLOCK if tt.table == "input" else 2)
            address = base + tt.offset
            span = tt.high - tt.low
            tags.append(
                Tag(
                    id=series_id(well, tt.name),
                    path=f"{prefix}.{tt.equipment}.{tt.name}",
                    legacy_name=f"RTU{unit:03d}:{_MODICON_PREFIX[tt.table]}{address + 1:05d}",
                    unit=tt.unit,
                    low=float(tt.low),
                    high=float(tt.high),
                    dtype="float32" if tt.encoding == "float32" else "int16",
                    modbus=ModbusSpec(
                        table=tt.table,
                        unit_id=unit,
                        address=address,
                        encoding=tt.encoding,
                        word_order=tt.word_order,
                        scale=tt.scale,
                    ),
                    sample_ms=1000,
                    deadband=round(span * 0.0005, 6),
                    writable=tt.writable,
                    description=tt.description,
                    sensor=SensorSpec() if tt.writable else _sensor(rng, tt, span),
                )
            )
    return Catalogue(
        tuple(tags),
        name=name or f"oilfield-{wells}",
        meta={"generator": "sim.catalogue_gen", "wells": wells, "seed": seed},
    )


def _sensor(rng: np.random.Generator, tt: WellTagType, span: float) -> SensorSpec:
    """Plausible field-instrument imperfections, drawn per tag."""
    return SensorSpec(
        noise_sigma=round(float(span * rng.uniform(0.0005, 0.003)), 6),
        adc_bits=int(rng.choice([12, 14, 16])) if tt.encoding == "int16_scaled" else 0,
        drift_per_hour=round(float(span * rng.uniform(0.0, 0.0005)), 6),
        spike_rate_per_hour=round(float(rng.uniform(0.0, 1.0)), 4),
        spike_magnitude=round(float(span * 0.05), 6),
        stuck_probability=1e-5,
        dropout_probability=1e-5,
        bad_quality_probability=1e-5,
        clock_skew_ms=round(float(rng.uniform(-50.0, 50.0)), 3),
    )


def generate_profile(profile: str, seed: int = 0) -> Catalogue:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {sorted(PROFILES)}")
    return generate_oilfield(PROFILES[profile], seed, name=f"oilfield-{profile}")
