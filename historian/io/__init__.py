"""Exchange files in and out of a store: long, wide and PI-style CSV, and Parquet.

Formats: ``historian/docs/format/exchange-csv.md`` and ``exchange-parquet.md``.
Command line: ``twinbench historian import`` / ``export`` (``commands.py``).

- :func:`import_files` checks every input completely before writing anything, adds
  unknown tags to the store's catalogue (or refuses them under ``strict``) and writes
  through ``Historian.write`` in large columnar batches.
- :func:`export` reads a stopped store with ``Historian.read`` in bounded windows.

Names are imported on first use, so ``historian.cli`` can register the commands
without loading pyarrow and the engine for unrelated commands.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .exporter import ExportError, ExportResult, export
    from .formats import FORMATS, detect_format, read_points
    from .importer import ImportResult, PartialImportError, UnknownTagsError, import_files
    from .points import ParsedPoints

__all__ = [
    "FORMATS",
    "ExportError",
    "ExportResult",
    "ImportResult",
    "ParsedPoints",
    "PartialImportError",
    "UnknownTagsError",
    "detect_format",
    "export",
    "import_files",
    "read_points",
]

_HOME = {
    "ExportError": "exporter",
    "ExportResult": "exporter",
    "export": "exporter",
    "FORMATS": "formats",
    "detect_format": "formats",
    "read_points": "formats",
    "ImportResult": "importer",
    "PartialImportError": "importer",
    "UnknownTagsError": "importer",
    "import_files": "importer",
    "ParsedPoints": "points",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
