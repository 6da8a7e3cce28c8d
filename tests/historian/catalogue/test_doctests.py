"""The examples in the catalogue modules' docstrings run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "historian.catalogue",
    "historian.catalogue.tag",
    "historian.catalogue.toml_source",
    "historian.catalogue.persist",
    "historian.catalogue.catalogue",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
