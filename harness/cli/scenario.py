"""``twinbench scenario list | run NAME | run-all``: drive scenarios over the real stack."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # imported where used: the CLI starts without loading the harness
    from harness.scenario import Scenario

app = typer.Typer(help="List and run scenarios.", no_args_is_help=True)
console = Console(stderr=True)


@app.command("list")
def list_scenarios() -> None:
    """Every scenario with its profile, duration, nominal rate and faults."""
    from scenarios import all_scenarios

    table = Table("name", "profile", "duration", "nominal rate", "faults", "description")
    for s in all_scenarios().values():
        faults = ", ".join(f"{f.kind}@{f.at_s:g}s" for f in s.faults) or "-"
        table.add_row(
            s.name,
            s.profile,
            f"{s.duration_s:g} s",
            f"{s.nominal_rate_pts_s:,.0f} pts/s",
            faults,
            s.description,
        )
    Console().print(table)


def _run_one(
    name: str,
    *,
    short: bool,
    seed: int | None,
    duration: float | None,
    reports: Path,
    keep_data: bool,
    work_dir: Path | None = None,
    cluster: int | None = None,
    tier_hot_window: float | None = None,
    secure: bool = False,
    api_users: int | None = None,
    mtls: bool = False,
) -> int:
    from harness.report.md import render_markdown
    from harness.report.model import ReportError, exit_code
    from harness.run.runner import ScenarioRunner
    from harness.run.warm import WarmUpError

    scenario = _with_api_users(
        _with_cluster(_scenario_or_exit(name, short=short), cluster), api_users
    )
    if seed is not None:
        scenario = dataclasses.replace(scenario, seed=seed)
    if duration is not None:
        factor = duration / scenario.duration_s
        scenario = _rescaled(scenario, factor)
    if tier_hot_window is not None:
        scenario = dataclasses.replace(scenario, tier_hot_window_s=tier_hot_window or None)
    console.print(f"[bold]scenario {scenario.name}[/]: {scenario.description}")
    console.print(
        f"  {scenario.duration_s:g} s of load, seed {scenario.seed}; reports under {reports}"
    )
    try:
        runner = ScenarioRunner(
            scenario,
            reports_root=reports,
            work_dir=work_dir,
            keep_data=keep_data,
            status=lambda line: console.print(line, highlight=False),
            secure=secure,
            mtls=mtls,
        )
    except ReportError as exc:  # e.g. uPlot not installed: nothing has started yet
        raise _usage_error(str(exc)) from None
    try:
        report, path = asyncio.run(runner.run())
    except WarmUpError as exc:  # a broken install: neither a usage error nor a verdict
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(ENVIRONMENT_EXIT) from None
    print(render_markdown(report))
    for name in ("report.md", "report.html", "report.json"):
        console.print(f"report: {path / name}")
    console.print(f"verdict: [bold]{report.verdict}[/]")
    return exit_code(report)


ENVIRONMENT_EXIT = 3
"""Exit code of a run this machine could not carry out (a broken install), so scripts tell
it from a usage error (2) and a failed verdict (1)."""


def _usage_error(message: str) -> typer.Exit:
    """One line on stderr, exit code 2: a usage error, never confused with a failed verdict (1)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _scenario_or_exit(name: str, *, short: bool) -> Scenario:
    from scenarios import UnknownScenarioError, get

    try:
        return get(name, short=short)
    except UnknownScenarioError as exc:
        raise _usage_error(f"{exc} (twinbench scenario list shows them)") from None


def _with_cluster(scenario: Scenario, cluster: int | None) -> Scenario:
    """The scenario on ``--cluster N`` JetStream nodes (None: as the scenario declares)."""
    from harness.scenario import ScenarioError

    if cluster is None:
        return scenario
    try:
        return dataclasses.replace(scenario, cluster=cluster)
    except ScenarioError as exc:
        raise _usage_error(f"--cluster {cluster}: {exc}") from None


def _with_api_users(scenario: Scenario, users: int | None) -> Scenario:
    """The scenario with ``--api-users N`` locust users on its HTTP API (None: as declared)."""
    from harness.scenario import ScenarioError

    if users is None:
        return scenario
    if users and (scenario.shadow or scenario.replay):
        raise _usage_error(f"--api-users: scenario {scenario.name} runs its own services")
    try:
        return dataclasses.replace(scenario, api_load_users=users)
    except ScenarioError as exc:
        raise _usage_error(f"--api-users {users}: {exc}") from None


def _rescaled(scenario: Scenario, factor: float) -> Scenario:
    """Stretch/shrink every phase and fault by ``factor`` (``--duration``)."""
    load = tuple(dataclasses.replace(p, duration_s=p.duration_s * factor) for p in scenario.load)
    faults = tuple(
        dataclasses.replace(f, at_s=f.at_s * factor, duration_s=f.duration_s * factor)
        for f in scenario.faults
    )
    return dataclasses.replace(
        scenario,
        load=load,
        faults=faults,
        duration_s=sum(p.duration_s for p in load),
        warmup_s=scenario.warmup_s * factor,
    )


@app.command("run")
def run(
    name: str = typer.Argument(..., help="scenario name (see `twinbench scenario list`)"),
    short: bool = typer.Option(False, "--short", help="the CI-sized version (~30 s)"),
    seed: int | None = typer.Option(None, help="override the scenario's seed"),
    duration: float | None = typer.Option(None, help="total seconds of load (phases scaled)"),
    reports: Path = typer.Option(Path("reports/runs"), help="where run directories go"),
    keep_data: bool = typer.Option(
        False, help="keep the work dir (store, logs) after a successful run; kept after a failure"
    ),
    work_dir: Path | None = typer.Option(
        None, help="store, logs and spool go here and are kept (default: a printed temp dir)"
    ),
    cluster: int | None = typer.Option(
        None,
        "--cluster",
        help="JetStream nodes: 1 (one nats-server) or 3 (a cluster, stream at R3); "
        "default: what the scenario declares (1, failover: 3)",
    ),
    tier_hot_window: float | None = typer.Option(
        None,
        "--tier-hot-window",
        help="seconds: run the historian with the cold tier on an embedded S3 server and "
        "this hot window (export, rollups, compaction during the run; docs/config.md); "
        "0 turns a scenario's own tier off",
    ),
    secure: bool = typer.Option(
        False,
        "--secure",
        help="every bus link authenticated (NKEY users, least privilege), TLS, JetStream and "
        "historian store encrypted at rest; credentials under WORK_DIR/security (docs/security.md)",
    ),
    api_users: int | None = typer.Option(
        None,
        "--api-users",
        help="locust users of the HTTP API mix during the second half of the steady phase "
        "(0 = none; default: what the scenario declares, stress: 5; docs/api.md)",
    ),
    mtls: bool = typer.Option(
        False,
        "--mtls",
        help="with --secure: every client also presents a certificate of the run's CA (mTLS)",
    ),
) -> None:
    """Run one scenario; exit code 1 when any threshold fails, 2 on a usage error."""
    if duration is not None and not duration > 0:
        raise _usage_error(f"--duration must be a positive number of seconds, not {duration:g}")
    if seed is not None and seed < 0:
        raise _usage_error(f"--seed must be >= 0, not {seed}")
    if tier_hot_window is not None and tier_hot_window != 0 and not tier_hot_window >= 2:
        raise _usage_error(
            f"--tier-hot-window must be >= 2 seconds (or 0: no tier), not {tier_hot_window:g}"
        )
    if api_users is not None and api_users < 0:
        raise _usage_error(f"--api-users must be a number of users >= 0, not {api_users}")
    scenario = _with_cluster(_scenario_or_exit(name, short=short), cluster)  # validate first
    _with_api_users(scenario, api_users)
    if mtls and not secure:
        raise _usage_error("--mtls adds client certificates to --secure: give both")
    if secure:
        _check_secure(scenario)
    raise typer.Exit(
        _run_one(
            name,
            short=short,
            seed=seed,
            duration=duration,
            reports=reports,
            keep_data=keep_data,
            work_dir=work_dir,
            cluster=cluster,
            tier_hot_window=tier_hot_window,
            secure=secure,
            api_users=api_users,
            mtls=mtls,
        )
    )


def _check_secure(scenario: Scenario) -> None:
    """What --secure does not run yet: a usage error before anything starts."""
    if scenario.cluster > 1 or scenario.edge:
        raise _usage_error(f"--secure runs on one nats-server; {scenario.name} needs more")
    if scenario.shadow or scenario.replay:
        raise _usage_error(
            f"--secure: scenario {scenario.name} runs its own services, which are not wired "
            "to the secure profile yet"
        )


@app.command("run-all")
def run_all(
    short: bool = typer.Option(False, "--short", help="CI-sized versions"),
    reports: Path = typer.Option(Path("reports/runs")),
) -> None:
    """Run every scenario in turn; exit code 1 when any of them fails a threshold."""
    from scenarios import all_scenarios

    codes = {
        name: _run_one(
            name, short=short, seed=None, duration=None, reports=reports, keep_data=False
        )
        for name in all_scenarios()
    }
    for name, code in codes.items():
        console.print(f"{name:<12} {'pass' if code == 0 else 'FAIL'}")
    raise typer.Exit(1 if any(codes.values()) else 0)
