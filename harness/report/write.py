"""Writes a run's reports: ``<root>/<UTC start>-<scenario>/{report.json,report.md,report.html}``.

The writer sits above the model (``harness.report.model``) and both renderers, so
the model never imports what renders it. :func:`render_run_dir` re-renders
the Markdown and HTML of an existing run directory from its ``report.json``
(``twinbench report render``), e.g. after a renderer change, without re-running.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.report.html import render_html
from harness.report.md import render_markdown
from harness.report.model import Report, load_report

__all__ = ["environment", "render_run_dir", "write_run"]


def environment() -> dict[str, Any]:
    """Where the run happened: enough to tell two machines (or two commits) apart."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "git_commit": commit,
    }


def _write_renderings(report: Report, out: Path) -> None:
    # Markdown first: if the HTML cannot be rendered (uPlot not installed), the run's
    # numbers are still on disk in two readable forms, and the error says how to finish
    (out / "report.md").write_text(render_markdown(report), encoding="utf-8")
    (out / "report.html").write_text(render_html(report), encoding="utf-8")


def write_run(report: Report, root: str | os.PathLike[str] = "reports/runs") -> Path:
    """Write report.json/.md/.html into a fresh ``<root>/<UTC timestamp>-<scenario>/``."""
    if not report.environment:
        report.environment = environment()
    try:  # the directory is named after the run's start
        started = datetime.strptime(report.started_utc, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    base = Path(root) / f"{stamp}-{report.scenario}"
    out = base
    for n in range(1, 100):  # two runs in one second get distinct directories
        if not out.exists():
            break
        out = base.with_name(f"{base.name}-{n}")
    out.mkdir(parents=True)
    doc = report.to_json()
    (out / "report.json").write_text(
        json.dumps(doc, indent=1, allow_nan=False) + "\n", encoding="utf-8"
    )
    _write_renderings(report, out)
    return out


def render_run_dir(path: str | os.PathLike[str]) -> Path:
    """Re-render report.md and report.html of a run directory (or beside a report.json)."""
    report = load_report(path)
    p = Path(path)
    out = p if p.is_dir() else p.parent
    _write_renderings(report, out)
    return out
