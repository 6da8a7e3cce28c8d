"""The docstring examples of the cold-tier modules run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "historian.tier.config",
    "historian.tier.layout",
    "historian.tier.coldcat",
    "historian.tier.parts",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0
