"""The examples in the import/export modules' docstrings run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "historian.statuscodes",
    "historian.io.timestamps",
    "historian.io.rows",
    "historian.io.points",
    "historian.io.csv_long",
    "historian.io.csv_wide",
    "historian.io.pi_csv",
    "historian.io.parquet",
    "historian.io.formats",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
