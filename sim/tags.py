"""The tag catalogue: one validated list of tags drives servers, collectors and the historian.

A tag is a measurement (or setpoint) with a stable uint32 series id, an ISA-95 path
``enterprise.site.area.line.cell.equipment.sensor`` (also its NATS subject suffix),
a legacy PLC name, an engineering unit and range, a Modbus location and encoding,
sampling and deadband settings, and a sensor model used by the twin.

Catalogues live in TOML files (format: ``docs/catalogue-format.md``); :func:`load_catalogue`
validates everything and raises :class:`CatalogueError` naming the tag and field at fault.

>>> from sim.catalogue_gen import generate_oilfield
>>> cat = generate_oilfield(wells=2, seed=1)
>>> len(cat), cat.tags[0].path
(20, 'acme.permian.field_01.pad_01.well_0001.wellhead.tubing_pressure')
>>> cat.by_id[cat.tags[0].id] is cat.tags[0]
True
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from historian.model import SeriesIndex

__all__ = [
    "DATA_TYPES",
    "ENCODINGS",
    "MODBUS_TABLES",
    "UNITS",
    "Catalogue",
    "CatalogueError",
    "ModbusSpec",
    "SensorSpec",
    "Tag",
    "dump_catalogue",
    "load_catalogue",
    "parse_catalogue",
]

FORMAT_NAME = "twinbench-catalogue"
FORMAT_VERSION = 1

# Engineering units the catalogue accepts; anything else is a typo until proven otherwise.
UNITS: frozenset[str] = frozenset(
    {
        "psi", "bar", "kPa", "MPa", "degF", "degC", "K", "bbl/d", "m3/h", "m3/d", "gpm",
        "kg/s", "kg/h", "mcf/d", "scf/d", "%", "A", "V", "kW", "MW", "kWh", "mm/s", "in/s",
        "g", "rpm", "Hz", "spm", "m", "mm", "ft", "in", "on/off", "count", "ppm", "pH", "s",
    }
)  # fmt: skip
DATA_TYPES = ("float64", "float32", "int16", "bool")
MODBUS_TABLES = ("holding", "input", "coil", "discrete")
ENCODINGS = ("float32", "int16_scaled", "bit")
WORD_ORDERS = ("big", "little")
ISA95_LEVELS = ("enterprise", "site", "area", "line", "cell", "equipment", "sensor")
# NATS subject tokens: no dots (separator), no spaces, no wildcards `*` / `>`.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")
_INT16_MIN, _INT16_MAX = -32768, 32767

Table = Literal["holding", "input", "coil", "discrete"]
Encoding = Literal["float32", "int16_scaled", "bit"]


class CatalogueError(ValueError):
    """A catalogue is malformed; the message names the tag and field and what to change."""


@dataclass(frozen=True, slots=True)
class ModbusSpec:
    """Where a tag lives in the Modbus data model and how its value is encoded."""

    table: Table
    unit_id: int
    address: int  # zero-based protocol address
    encoding: Encoding
    word_order: Literal["big", "little"] = "big"  # float32 only: which register holds the high word
    scale: float = 1.0  # int16_scaled: value = raw * scale + offset
    offset: float = 0.0

    @property
    def register_count(self) -> int:
        return 2 if self.encoding == "float32" else 1

    @property
    def registers(self) -> range:
        return range(self.address, self.address + self.register_count)


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """Measurement imperfections the twin applies to the true value (see ``sim/sensors.py``).

    Probabilities are per sample; ``*_s`` are mean episode lengths in seconds.
    """

    noise_sigma: float = 0.0  # engineering units, Gaussian
    adc_bits: int = 0  # 0 = no quantisation; else the range is split into 2**bits steps
    drift_per_hour: float = 0.0  # engineering units per hour, linear
    spike_rate_per_hour: float = 0.0
    spike_magnitude: float = 0.0  # engineering units, sign random
    stuck_probability: float = 0.0
    stuck_s: float = 30.0
    dropout_probability: float = 0.0
    dropout_s: float = 10.0
    bad_quality_probability: float = 0.0
    bad_quality_s: float = 20.0
    clock_skew_ms: float = 0.0  # constant offset of the source timestamp


@dataclass(frozen=True, slots=True)
class Tag:
    id: int
    path: str
    legacy_name: str
    unit: str
    low: float
    high: float
    dtype: Literal["float64", "float32", "int16", "bool"]
    modbus: ModbusSpec
    sample_ms: int = 1000
    deadband: float = 0.0
    writable: bool = False
    description: str = ""
    # Historian metadata (the simulator ignores them): PI "Step" (None = by dtype: bool and
    # int16 hold their value, analog interpolates), exception and compression deviation.
    stepped: bool | None = None
    excdev: float | None = None
    compdev: float | None = None
    sensor: SensorSpec = field(default_factory=SensorSpec)

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.path.split("."))

    @property
    def sensor_name(self) -> str:
        return self.path.rsplit(".", 1)[1]


@dataclass(frozen=True)
class Catalogue:
    """A validated, ordered list of tags with lookups by path, id and Modbus location."""

    tags: tuple[Tag, ...]
    name: str = "catalogue"
    meta: dict[str, Any] = field(default_factory=dict)
    by_path: dict[str, Tag] = field(init=False, repr=False, compare=False)
    by_id: dict[int, Tag] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        validate_tags(self.tags)
        object.__setattr__(self, "by_path", {t.path: t for t in self.tags})
        object.__setattr__(self, "by_id", {t.id: t for t in self.tags})

    def __len__(self) -> int:
        return len(self.tags)

    def series_index(self) -> SeriesIndex:
        return SeriesIndex({t.id: t.path for t in self.tags})

    def slice(self, start: int, stop: int) -> Catalogue:
        """Tags ``[start:stop]`` by position, for splitting a catalogue across server processes."""
        meta = {**self.meta, "slice": [start, min(stop, len(self.tags))]}
        return Catalogue(self.tags[start:stop], name=self.name, meta=meta)

    def unit_ids(self) -> list[int]:
        return sorted({t.modbus.unit_id for t in self.tags})


# ---------------------------------------------------------------- validation


def _fail(tag: Tag | str, field_name: str, why: str) -> CatalogueError:
    name = tag.path if isinstance(tag, Tag) else tag
    return CatalogueError(f"tag {name!r} field {field_name!r}: {why}")


def validate_tag(tag: Tag) -> None:
    """Checks one tag on its own; cross-tag checks are in :func:`validate_tags`."""
    if not isinstance(tag.id, int) or isinstance(tag.id, bool) or not 0 <= tag.id < 2**32:
        raise _fail(tag, "id", f"{tag.id!r} is not an integer in [0, 2**32); ids are uint32")
    segs = tag.path.split(".")
    if len(segs) != len(ISA95_LEVELS):
        raise _fail(
            tag,
            "path",
            f"has {len(segs)} segments, needs 7: {'.'.join(ISA95_LEVELS)}",
        )
    for level, seg in zip(ISA95_LEVELS, segs, strict=True):
        if not _TOKEN.match(seg):
            raise _fail(
                tag,
                "path",
                f"{level} segment {seg!r} is not a valid NATS subject token; "
                "use only letters, digits, '_' and '-'",
            )
    if not tag.legacy_name or any(c.isspace() for c in tag.legacy_name):
        raise _fail(tag, "legacy_name", f"{tag.legacy_name!r} must be non-empty without spaces")
    if tag.unit not in UNITS:
        raise _fail(tag, "unit", f"unknown engineering unit {tag.unit!r}; known: {sorted(UNITS)}")
    if tag.dtype not in DATA_TYPES:
        raise _fail(tag, "dtype", f"{tag.dtype!r} is not one of {DATA_TYPES}")
    if not (_finite(tag.low) and _finite(tag.high)) or tag.low >= tag.high:
        raise _fail(tag, "low", f"low {tag.low} must be finite and below high {tag.high}")
    if not isinstance(tag.sample_ms, int) or tag.sample_ms <= 0:
        raise _fail(tag, "sample_ms", f"{tag.sample_ms!r} must be a positive integer (ms)")
    if not _finite(tag.deadband) or tag.deadband < 0:
        raise _fail(tag, "deadband", f"{tag.deadband!r} must be >= 0 (engineering units)")
    if tag.stepped is not None and not isinstance(tag.stepped, bool):
        raise _fail(tag, "stepped", f"{tag.stepped!r} must be true or false")
    for name in ("excdev", "compdev"):
        dev = getattr(tag, name)
        if dev is not None and (not _finite(dev) or dev < 0):
            raise _fail(tag, name, f"{dev!r} must be a number >= 0 (engineering units)")
    _validate_modbus(tag)
    _validate_sensor(tag)


def _validate_modbus(tag: Tag) -> None:
    mb = tag.modbus
    if mb.table not in MODBUS_TABLES:
        raise _fail(tag, "modbus.table", f"{mb.table!r} is not one of {MODBUS_TABLES}")
    if mb.encoding not in ENCODINGS:
        raise _fail(tag, "modbus.encoding", f"{mb.encoding!r} is not one of {ENCODINGS}")
    if not 1 <= mb.unit_id <= 247:
        raise _fail(tag, "modbus.unit_id", f"{mb.unit_id} must be in 1..247 (0 is broadcast)")
    last = mb.address + mb.register_count - 1
    if mb.address < 0 or last > 0xFFFF:
        raise _fail(
            tag, "modbus.address", f"{mb.address} (+{mb.register_count} registers) exceeds 0..65535"
        )
    bit_table = mb.table in ("coil", "discrete")
    if bit_table != (mb.encoding == "bit"):
        raise _fail(
            tag,
            "modbus.encoding",
            f"encoding {mb.encoding!r} is incompatible with table {mb.table!r}; "
            "coil/discrete need 'bit', holding/input need 'float32' or 'int16_scaled'",
        )
    if (tag.dtype == "bool") != (mb.encoding == "bit"):
        raise _fail(
            tag, "dtype", f"{tag.dtype!r} does not match encoding {mb.encoding!r} (bool<->bit)"
        )
    if mb.word_order not in WORD_ORDERS:
        raise _fail(tag, "modbus.word_order", f"{mb.word_order!r} is not one of {WORD_ORDERS}")
    if mb.encoding == "int16_scaled":
        if not _finite(mb.scale) or mb.scale == 0 or not _finite(mb.offset):
            raise _fail(tag, "modbus.scale", f"scale {mb.scale} must be finite and non-zero")
        raw = sorted(((tag.low - mb.offset) / mb.scale, (tag.high - mb.offset) / mb.scale))
        if raw[0] < _INT16_MIN - 0.5 or raw[1] > _INT16_MAX + 0.5:
            raise _fail(
                tag,
                "modbus.scale",
                f"range [{tag.low}, {tag.high}] maps to raw [{raw[0]:.0f}, {raw[1]:.0f}], "
                "outside int16; increase scale or change offset",
            )
    if tag.writable and mb.table not in ("holding", "coil"):
        raise _fail(
            tag, "writable", f"a writable tag must live in holding or coil, not {mb.table!r}"
        )


def _validate_sensor(tag: Tag) -> None:
    s = tag.sensor
    for f in fields(SensorSpec):
        v = getattr(s, f.name)
        if not _finite(v) or (f.name != "clock_skew_ms" and v < 0):
            raise _fail(tag, f"sensor.{f.name}", f"{v!r} must be finite and >= 0")
    for name in ("stuck_probability", "dropout_probability", "bad_quality_probability"):
        if getattr(s, name) > 1:
            raise _fail(tag, f"sensor.{name}", f"{getattr(s, name)} is a probability, must be <= 1")
    if not isinstance(s.adc_bits, int) or not 0 <= s.adc_bits <= 32:
        raise _fail(tag, "sensor.adc_bits", f"{s.adc_bits!r} must be an integer in 0..32")


def validate_tags(tags: Sequence[Tag]) -> None:
    """Every per-tag check plus uniqueness of id, path, legacy name and Modbus registers."""
    ids: dict[int, Tag] = {}
    paths: dict[str, Tag] = {}
    legacy: dict[str, Tag] = {}
    # (unit, register space) -> address -> owner; holding/input share nothing, coils neither.
    regs: dict[tuple[int, str], dict[int, Tag]] = {}
    for tag in tags:
        validate_tag(tag)
        if tag.id in ids:
            used_by = ids[tag.id].path
            raise _fail(tag, "id", f"series id {tag.id} is already used by tag {used_by!r}")
        ids[tag.id] = tag
        if tag.path in paths:
            raise _fail(tag, "path", "duplicate path; every tag needs its own ISA-95 path")
        paths[tag.path] = tag
        if tag.legacy_name in legacy:
            raise _fail(
                tag,
                "legacy_name",
                f"{tag.legacy_name!r} is already used by tag {legacy[tag.legacy_name].path!r}",
            )
        legacy[tag.legacy_name] = tag
        space = regs.setdefault((tag.modbus.unit_id, tag.modbus.table), {})
        for r in tag.modbus.registers:
            if r in space:
                other = space[r]
                word = "address" if tag.modbus.table in ("coil", "discrete") else "register"
                raise _fail(
                    tag,
                    "modbus.address",
                    f"{tag.modbus.table} {word} {r} on unit {tag.modbus.unit_id} "
                    f"overlaps tag {other.path!r}",
                )
            space[r] = tag


def _finite(v: Any) -> bool:
    if not isinstance(v, int | float) or isinstance(v, bool):
        return False
    return math.isfinite(v)


# ---------------------------------------------------------------- TOML in/out


def load_catalogue(path: str | Path) -> Catalogue:
    """Read and validate a catalogue TOML file; raises :class:`CatalogueError`."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            doc = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{p}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise CatalogueError(f"{p}: cannot read catalogue: {exc}") from exc
    return parse_catalogue(doc)


def parse_catalogue(doc: dict[str, Any]) -> Catalogue:
    """Build a :class:`Catalogue` from the parsed TOML document (see the format doc)."""
    if doc.get("format") != FORMAT_NAME:
        raise CatalogueError(f"not a catalogue: top-level format must be {FORMAT_NAME!r}")
    if doc.get("version") != FORMAT_VERSION:
        raise CatalogueError(
            f"catalogue version {doc.get('version')!r} is not supported; this reader knows "
            f"version {FORMAT_VERSION}"
        )
    head = doc.get("catalogue", {})
    raw_tags = doc.get("tag", [])
    if not isinstance(raw_tags, list):
        raise CatalogueError("'tag' must be an array of tables ([[tag]])")
    tags = [_tag_from_dict(i, t) for i, t in enumerate(raw_tags)]
    meta = {k: v for k, v in head.items() if k != "name"}
    return Catalogue(tuple(tags), name=str(head.get("name", "catalogue")), meta=meta)


_TAG_KEYS = {f.name for f in fields(Tag)}
_MODBUS_KEYS = {f.name for f in fields(ModbusSpec)}
_SENSOR_KEYS = {f.name for f in fields(SensorSpec)}
_FLOAT_FIELDS = {"low", "high", "deadband", "scale", "offset", "excdev", "compdev"} | (
    _SENSOR_KEYS - {"adc_bits"}
)


def _tag_from_dict(i: int, d: dict[str, Any]) -> Tag:
    name = str(d.get("path", f"#{i}"))
    for key in ("id", "path", "legacy_name", "unit", "low", "high", "dtype", "modbus"):
        if key not in d:
            raise _fail(name, key, "missing required field")
    _check_keys(name, "", d, _TAG_KEYS)
    mb = dict(d["modbus"])
    _check_keys(name, "modbus.", mb, _MODBUS_KEYS)
    for key in ("table", "unit_id", "address", "encoding"):
        if key not in mb:
            raise _fail(name, f"modbus.{key}", "missing required field")
    sensor = dict(d.get("sensor", {}))
    _check_keys(name, "sensor.", sensor, _SENSOR_KEYS)
    for prefix, sub in (("", d), ("modbus.", mb), ("sensor.", sensor)):
        for k, v in sub.items():
            if k in _FLOAT_FIELDS and isinstance(v, int) and not isinstance(v, bool):
                sub[k] = float(v)
            elif k in _FLOAT_FIELDS and not isinstance(v, float):
                raise _fail(name, prefix + k, f"{v!r} must be a number")
    for k in ("unit_id", "address"):
        if not isinstance(mb[k], int) or isinstance(mb[k], bool):
            raise _fail(name, f"modbus.{k}", f"{mb[k]!r} must be an integer")
    if not isinstance(d.get("writable", False), bool):
        raise _fail(name, "writable", f"{d['writable']!r} must be true or false")
    rest = {k: v for k, v in d.items() if k not in ("modbus", "sensor")}
    return Tag(**rest, modbus=ModbusSpec(**mb), sensor=SensorSpec(**sensor))


def _check_keys(name: str, prefix: str, d: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise _fail(name, prefix + unknown[0], f"unknown field; allowed: {sorted(allowed)}")


def dump_catalogue(cat: Catalogue, path: str | Path) -> None:
    """Write ``cat`` as TOML that :func:`load_catalogue` reads back to an equal catalogue."""
    Path(path).write_text(dumps_catalogue(cat), encoding="utf-8")


def dumps_catalogue(cat: Catalogue) -> str:
    out = [f"format = {_toml(FORMAT_NAME)}", f"version = {FORMAT_VERSION}", "", "[catalogue]"]
    out.append(f"name = {_toml(cat.name)}")
    out.extend(f"{k} = {_toml(v)}" for k, v in cat.meta.items())
    default_sensor = SensorSpec()
    for t in cat.tags:
        out += ["", "[[tag]]"]
        for f in fields(Tag):
            if f.name not in ("modbus", "sensor") and getattr(t, f.name) is not None:
                out.append(f"{f.name} = {_toml(getattr(t, f.name))}")
        out.append("[tag.modbus]")
        out.extend(f"{f.name} = {_toml(getattr(t.modbus, f.name))}" for f in fields(ModbusSpec))
        if t.sensor != default_sensor:
            out.append("[tag.sensor]")
            out.extend(
                f"{f.name} = {_toml(getattr(t.sensor, f.name))}"
                for f in fields(SensorSpec)
                if getattr(t.sensor, f.name) != getattr(default_sensor, f.name)
            )
    return "\n".join(out) + "\n"


def _toml(v: Any) -> str:
    """The TOML literal for the few value types a catalogue holds."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            raise CatalogueError(f"cannot write non-finite number {v!r} to a catalogue")
        return repr(v)  # shortest round-trip repr, always has '.' or 'e'
    if isinstance(v, str):
        esc = v.replace("\\", "\\\\").replace('"', '\\"')
        esc = "".join(c if c >= " " or c == "\t" else f"\\u{ord(c):04x}" for c in esc)
        return f'"{esc}"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    raise CatalogueError(f"cannot write {type(v).__name__} value {v!r} to a catalogue")


def tags_by_modbus(tags: Iterable[Tag]) -> dict[tuple[int, str, int], Tag]:
    """(unit id, table, first address) -> tag, for register-map lookups."""
    return {(t.modbus.unit_id, t.modbus.table, t.modbus.address): t for t in tags}
