"""The examples in the harness and scenario docstrings run and stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "harness.load.schedule",
    "harness.load.synthetic",
    "harness.report.model",
    "harness.report.format",
    "scenarios",
    "harness.scenario",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
