"""The tag catalogue the store keeps: names, ids, units, ranges, step and deviation settings.

Load it from the catalogue TOML (``docs/catalogue-format.md``), persist it in the
store directory (``historian/docs/format/catalogue.md``), look tags up by name, id
or glob, and build the engine's :class:`~historian.model.SeriesIndex` from it.

>>> from historian.catalogue import TagCatalogue, TagInfo
>>> cat = TagCatalogue([TagInfo(1, "acme.site.area.line.cell.esp.speed", unit="rpm")])
>>> cat.series_index().id_of("acme.site.area.line.cell.esp.speed")
1
"""

from __future__ import annotations

from historian.errors import CatalogueError

from .catalogue import TagCatalogue
from .persist import CATALOGUE_FILE, CatalogueCorruptError
from .tag import DTYPES, TagInfo

__all__ = [
    "CATALOGUE_FILE",
    "DTYPES",
    "CatalogueCorruptError",
    "CatalogueError",
    "TagCatalogue",
    "TagInfo",
]
