"""Exchange files in and out of a store: long, wide and PI-style CSV, and Parquet.

Formats: ``historian/docs/format/exchange-csv.md`` and ``exchange-parquet.md``.
Command line: ``twinbench historian import`` / ``export`` (``commands.py``).

- :func:`import_files` checks every input completely before writing anything, adds
  unknown tags to the store's catalogue (or refuses them under ``strict``) and writes
  through ``Historian.write`` in large columnar batches.
- :func:`export` reads a stopped store with ``Historian.read`` in bounded windows.
"""

from __future__ import annotations

from .exporter import ExportError, ExportResult, export
from .formats import FORMATS, detect_format, read_points
from .importer import ImportResult, UnknownTagsError, import_files
from .points import ParsedPoints

__all__ = [
    "FORMATS",
    "ExportError",
    "ExportResult",
    "ImportResult",
    "ParsedPoints",
    "UnknownTagsError",
    "detect_format",
    "export",
    "import_files",
    "read_points",
]
