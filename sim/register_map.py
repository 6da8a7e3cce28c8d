"""The Modbus register map of a catalogue, exported as CSV or Markdown.

One row per tag, ordered by unit id, table and address, with the Modicon-style
reference (``3xxxxx`` input, ``4xxxxx`` holding, ``0xxxxx`` coil, ``1xxxxx``
discrete; one-based) beside the zero-based protocol address that clients send.

>>> from sim.catalogue_gen import generate_oilfield
>>> print(register_map_csv(generate_oilfield(1)).splitlines()[1])
1,input,0,300001,2,float32,big,,,float32,psi,0.0,5000.0,false,1,acme.permian.field_01.pad_01.well_0001.wellhead.tubing_pressure,RTU001:300001
"""

from __future__ import annotations

import csv
import io

from sim.tags import Catalogue, Tag

COLUMNS = (
    "unit_id", "table", "address", "reference", "registers", "encoding", "word_order",
    "scale", "offset", "dtype", "unit", "low", "high", "writable", "series_id", "path",
    "legacy_name",
)  # fmt: skip
_TABLE_ORDER = {"coil": 0, "discrete": 1, "input": 2, "holding": 3}
_PREFIX = {"coil": "0", "discrete": "1", "input": "3", "holding": "4"}


def register_rows(cat: Catalogue) -> list[tuple[str, ...]]:
    tags = sorted(
        cat.tags,
        key=lambda t: (t.modbus.unit_id, _TABLE_ORDER[t.modbus.table], t.modbus.address),
    )
    return [_row(t) for t in tags]


def _row(t: Tag) -> tuple[str, ...]:
    mb = t.modbus
    scaled = mb.encoding == "int16_scaled"
    return (
        str(mb.unit_id),
        mb.table,
        str(mb.address),
        f"{_PREFIX[mb.table]}{mb.address + 1:05d}",
        str(mb.register_count),
        mb.encoding,
        mb.word_order if mb.encoding == "float32" else "",
        repr(mb.scale) if scaled else "",
        repr(mb.offset) if scaled else "",
        t.dtype,
        t.unit,
        repr(t.low),
        repr(t.high),
        "true" if t.writable else "false",
        str(t.id),
        t.path,
        t.legacy_name,
    )


def register_map_csv(cat: Catalogue) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    w.writerows(register_rows(cat))
    return buf.getvalue()


def register_map_markdown(cat: Catalogue) -> str:
    lines = [
        f"# Modbus register map: {cat.name}",
        "",
        "Addresses are zero-based protocol addresses; `reference` is the one-based "
        "Modicon reference. float32 spans two registers; `word_order` big = high word "
        "first. int16_scaled: value = raw * scale + offset.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in register_rows(cat)]
    return "\n".join(lines) + "\n"
