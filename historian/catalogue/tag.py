"""One tag's metadata as the historian keeps it, and the checks every entry passes.

The historian needs less than the simulator: no Modbus location, no sensor model,
no sampling settings. It needs what a query or a comparison needs: how to
interpolate (``stepped``), the engineering range and unit, and the exception and
compression deviations a legacy historian applied (for shadow comparison).

>>> t = TagInfo(7, "acme.site.area.line.cell.pump.running", dtype="bool")
>>> t.stepped                      # state tags hold their last value by default
True
>>> TagInfo(8, "acme.site.area.line.cell.pump.current", unit="A").stepped
False
>>> TagInfo(9, "bad name")
Traceback (most recent call last):
...
historian.errors.CatalogueError: tag 'bad name' field 'name': segment 'bad name' is not a valid \
tag path token; use only letters, digits, '_' and '-' between the dots
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from historian.errors import CatalogueError

__all__ = ["DTYPES", "STATE_DTYPES", "TagInfo", "check_name", "default_stepped", "fail"]

DTYPES = ("float64", "float32", "int16", "bool")
STATE_DTYPES = frozenset({"int16", "bool"})
"""Dtypes whose tags are states (hold the last value) unless the catalogue says otherwise."""
ISA95_SEGMENTS = 7
# The same token rule as a NATS subject token: the path is also the subject suffix and the
# OPC UA node id, so no dots inside a segment, no spaces, no wildcards.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")


def default_stepped(dtype: str) -> bool:
    """PI's rule of thumb: states (bool, int16) hold their value, analog values are linear."""
    return dtype in STATE_DTYPES


def fail(name: str, field_name: str, why: str) -> CatalogueError:
    """The one error shape for catalogue problems: which tag, which field, what to do."""
    return CatalogueError(f"tag {name!r} field {field_name!r}: {why}")


def check_name(name: str, *, segments: int | None = None) -> None:
    """Raise :class:`CatalogueError` unless ``name`` is a dot-separated path of tokens.

    ``segments`` demands an exact count (the TOML catalogue requires the 7 ISA-95 levels;
    tags created by an import may be shorter, e.g. a PI tag name ``SINUSOID``).
    """
    if not isinstance(name, str) or not name:
        raise fail(str(name), "name", "must be a non-empty string")
    parts = name.split(".")
    if segments is not None and len(parts) != segments:
        raise fail(
            name,
            "name",
            f"has {len(parts)} segments, needs {segments}: "
            "enterprise.site.area.line.cell.equipment.sensor",
        )
    for seg in parts:
        if not _TOKEN.match(seg):
            raise fail(
                name,
                "name",
                f"segment {seg!r} is not a valid tag path token; "
                "use only letters, digits, '_' and '-' between the dots",
            )


def _finite_or_none(v: Any) -> bool:
    if v is None:
        return True
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True, slots=True)
class TagInfo:
    """Metadata of one series. ``stepped=None`` at construction means "by dtype".

    ``stepped`` is PI's *Step* attribute: True = the value holds until the next one
    (states, setpoints, counters), False = linear interpolation between values (analog).
    """

    id: int
    name: str
    unit: str = ""
    low: float | None = None
    high: float | None = None
    stepped: bool = field(default=None)  # type: ignore[assignment]  # None -> dtype default
    excdev: float | None = None
    compdev: float | None = None
    legacy_name: str = ""
    description: str = ""
    dtype: str = "float64"
    tenant: str = ""
    """The tenant owning the tag ("" = none); the HTTP API's token check reads it."""

    def __post_init__(self) -> None:
        name = self.name if isinstance(self.name, str) else repr(self.name)
        if not isinstance(self.id, int) or isinstance(self.id, bool) or not 0 <= self.id < 2**32:
            raise fail(name, "id", f"{self.id!r} is not an integer in [0, 2**32); ids are uint32")
        check_name(self.name)
        if self.dtype not in DTYPES:
            raise fail(name, "dtype", f"{self.dtype!r} is not one of {DTYPES}")
        if self.stepped is None:
            object.__setattr__(self, "stepped", default_stepped(self.dtype))
        elif not isinstance(self.stepped, bool):
            raise fail(name, "stepped", f"{self.stepped!r} must be true or false")
        for fname in ("low", "high"):
            if not _finite_or_none(getattr(self, fname)):
                raise fail(name, fname, f"{getattr(self, fname)!r} must be a finite number")
        if (self.low is None) != (self.high is None):
            raise fail(name, "low", "give both low and high (the engineering range) or neither")
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise fail(name, "low", f"low {self.low} must be below high {self.high}")
        for fname in ("excdev", "compdev"):
            v = getattr(self, fname)
            if not _finite_or_none(v) or (v is not None and v < 0):
                raise fail(name, fname, f"{v!r} must be a finite number >= 0 (engineering units)")
        for fname in ("unit", "legacy_name", "description"):
            if not isinstance(getattr(self, fname), str):
                raise fail(name, fname, f"{getattr(self, fname)!r} must be a string")
        if not isinstance(self.tenant, str) or (self.tenant and not _TOKEN.match(self.tenant)):
            raise fail(name, "tenant", f"{self.tenant!r} must be '' or a name of [A-Za-z0-9_-]")
        if any(c.isspace() for c in self.legacy_name):
            raise fail(name, "legacy_name", f"{self.legacy_name!r} must not contain whitespace")
        for fname in ("low", "high", "excdev", "compdev"):
            v = getattr(self, fname)
            if isinstance(v, int):  # TOML/JSON integers: keep the float type promise
                object.__setattr__(self, fname, float(v))

    def to_dict(self) -> dict[str, Any]:
        """Every field, ``None`` for an absent optional (the persisted JSON form)."""
        return {
            "id": self.id,
            "name": self.name,
            "unit": self.unit,
            "low": self.low,
            "high": self.high,
            "stepped": self.stepped,
            "excdev": self.excdev,
            "compdev": self.compdev,
            "legacy_name": self.legacy_name,
            "description": self.description,
            "dtype": self.dtype,
            "tenant": self.tenant,
        }
