"""The edge scenario's declaration: an edge run, its uplink fault, what it refuses."""

from __future__ import annotations

import dataclasses

import pytest
from typer.testing import CliRunner

from harness.cli.app import build_app
from harness.scenario import FaultEvent, ScenarioError
from scenarios import get


def test_edge_cuts_only_the_uplink_at_the_partitioned_scenarios_time() -> None:
    edge, partitioned = get("edge"), get("partitioned")
    assert edge.edge and not partitioned.edge
    assert [f.kind for f in edge.faults] == ["partition-leaf-hub"]
    # side by side with the spool-only run: same load, the cut where partitioned cuts the
    # collector's own link
    assert (
        edge.load == partitioned.load and edge.nominal_rate_pts_s == partitioned.nominal_rate_pts_s
    )
    cut = partitioned.faults[0]
    assert (edge.faults[0].at_s, edge.faults[0].duration_s) == (cut.at_s, cut.duration_s)
    short = get("edge", short=True)
    assert short.edge and short.faults[0].duration_s >= 2.0


def test_an_uplink_cut_needs_an_edge_run_and_an_edge_run_a_single_hub() -> None:
    noisy = get("noisy")
    with pytest.raises(ScenarioError, match="needs an edge run"):
        dataclasses.replace(noisy, faults=(FaultEvent(5.0, 2.0, "partition-leaf-hub"),))
    with pytest.raises(ScenarioError, match="single-node hub"):
        dataclasses.replace(get("edge"), cluster=3)


def test_edge_on_a_cluster_is_a_usage_error() -> None:
    result = CliRunner().invoke(
        build_app(), ["scenario", "run", "edge", "--short", "--cluster", "3"]
    )
    assert result.exit_code == 2, result.output
    assert "single-node hub" in result.output
