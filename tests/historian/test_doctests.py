"""The examples in the engine's docstrings run (the public API example included)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "historian",
    "historian.fs",
    "historian.options",
    "historian.wal.format",
    "historian.sstable.writer",
    "historian.lsm.filenames",
    "historian.lsm.merge",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
