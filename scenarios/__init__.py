"""Scenario definitions: one module per scenario, each exposing ``SCENARIO``.

>>> sorted(all_scenarios())  # doctest: +NORMALIZE_WHITESPACE
['bursty', 'chaos', 'crash', 'edge', 'failover', 'noisy', 'partitioned', 'replay', 'shadow',
 'stress']
"""

from __future__ import annotations

import importlib

from harness.scenario import Scenario, ScenarioError

__all__ = ["SCENARIO_MODULES", "UnknownScenarioError", "all_scenarios", "get"]

SCENARIO_MODULES: tuple[str, ...] = (
    "noisy",
    "bursty",
    "partitioned",
    "crash",
    "stress",
    "shadow",
    "chaos",
    "failover",
    "replay",
    "edge",
)


class UnknownScenarioError(ScenarioError, KeyError):
    """No scenario has that name; the message lists the ones that exist."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


def all_scenarios() -> dict[str, Scenario]:
    """Every registered scenario by name, in definition order."""
    out: dict[str, Scenario] = {}
    for module in SCENARIO_MODULES:
        scenario = importlib.import_module(f"scenarios.{module}").SCENARIO
        if not isinstance(scenario, Scenario) or scenario.name != module:
            raise ScenarioError(f"scenarios.{module}.SCENARIO must be a Scenario named {module!r}")
        out[scenario.name] = scenario
    return out


def get(name: str, *, short: bool = False) -> Scenario:
    """The scenario called ``name`` (its CI-sized copy with ``short=True``)."""
    scenarios = all_scenarios()
    try:
        scenario = scenarios[name]
    except KeyError:
        raise UnknownScenarioError(
            f"unknown scenario {name!r}; known scenarios: {', '.join(scenarios)}"
        ) from None
    return scenario.short() if short else scenario
