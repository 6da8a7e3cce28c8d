"""Markdown rendering of a run report: verdict per threshold, latency, accounting, metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.report.api import API_LOAD_TITLE, api_load_table
from harness.report.format import (
    BASELINE_KEY,
    bytes_per_point_caption,
    format_value,
    round_sig,
    started_label,
)

if TYPE_CHECKING:
    from harness.report.model import Report

__all__ = ["render_markdown"]

_ACCOUNTING_COLUMNS = (
    "produced",
    "acknowledged",
    "stored",
    "lost",
    "unacked_missing",
    "duplicated",
    "reordered",
    "changed",
)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return [*out, ""]


def render_markdown(report: Report) -> str:
    verdict = {"pass": "PASS", "fail": "FAIL", "unscored": "UNSCORED (no thresholds)"}[
        report.verdict
    ]
    started = started_label(report.started_utc, is_load_start=report.started_is_load_start)
    lines = [
        f"# twinbench report: {report.scenario}: {verdict}",
        "",
        f"{report.description}".strip(),
        "",
        f"- profile: `{report.profile}`, seed {report.seed}, duration {report.duration_s:g} s",
        f"- started: {started}",
    ]
    env = report.environment
    if env:
        lines.append(
            f"- environment: Python {env.get('python')}, {env.get('cpus')} CPUs, "
            f"commit `{env.get('git_commit') or 'unknown'}`"
        )
    lines.append("")
    if report.thresholds:
        lines += ["## Thresholds", ""]
        rows = [
            [
                "pass" if t["passed"] else "**FAIL**",
                t["name"],
                f"`{t['metric']}`",
                format_value(t["value"]),
                f"{t['comparator']} {format_value(t['limit_value'])}"
                + (f" (`{t['limit']}`)" if isinstance(t["limit"], str) else ""),
                t["unit"],
                t["why"],
            ]
            for t in report.thresholds
        ]
        lines += _table(["verdict", "threshold", "metric", "value", "limit", "unit", "why"], rows)
    if report.latency:
        lines += ["## Latency (ms, from intended send time)", ""]
        rows = []
        for name, lat in report.latency.items():
            s = lat["summary_ms"]
            rows.append(
                [name, format_value(s["count"])]
                + [format_value(s[k]) for k in ("p50", "p90", "p99", "p99_9", "max")]
            )
        lines += _table(["latency", "count", "p50", "p90", "p99", "p99.9", "max"], rows)
    if report.accounting:
        lines += ["## Accounting (points)", ""]
        acc: dict[str, Any] = report.accounting
        scopes = [*acc["phases"].items(), ("**total**", acc["total"])]
        rows = [[name] + [format_value(c[k]) for k in _ACCOUNTING_COLUMNS] for name, c in scopes]
        lines += _table(["phase", *_ACCOUNTING_COLUMNS], rows)
        lines.append(f"Stored points the run never produced: {format_value(acc['unexpected'])}.")
        lines.append("")
    if report.stress:
        lines += ["## Stress", ""]
        lines += [
            f"- {k}: {v if isinstance(v, str) else format_value(v)}"
            for k, v in report.stress.items()
            if not isinstance(v, list)
        ]
        lines.append("")
    if report.api_load:
        header, rows, caption = api_load_table(report.api_load)
        lines += [f"## {API_LOAD_TITLE}", "", *_table(header, rows), caption, ""]
    if report.bytes_per_point:
        lines += ["## Bytes per point", ""]
        rows = [[k, format_value(v)] for k, v in report.bytes_per_point.items()]
        baseline = report.metrics.get(BASELINE_KEY)
        if baseline is not None:
            rows.append(["*baseline*", round_sig(baseline)])
        lines += _table(["tag type", "bytes/point"], rows)
        caption = bytes_per_point_caption(
            report.metrics, report.thresholds, baseline_is="The *baseline* row"
        )
        if caption:
            lines += [caption, ""]
    if report.faults:
        lines += ["## Faults", ""]
        rows = [
            [f["kind"], f["target"], format_value(f["start_s"]), format_value(f["end_s"])]
            for f in report.faults
        ]
        header = ["fault", "target", "start s", "end s"]
        if any("ack_resumed_s" in f or "skipped" in f for f in report.faults):
            header += ["acks resumed after s", "queryable resumed after s"]
            for row, f in zip(rows, report.faults, strict=True):
                if f.get("skipped"):
                    row += [f"SKIPPED: {f['skipped']}", ""]
                else:
                    row += [
                        format_value(f.get("ack_resumed_s")),
                        format_value(f.get("queryable_resumed_s"))
                        + (f" ({f['resumed_source']})" if f.get("resumed_source") else ""),
                    ]
        lines += _table(header, rows)
    failovers = [f for f in report.faults if "election_gap_s" in f]
    if failovers:  # harness.faults.cluster: what each JetStream node failover cost
        lines += ["## Failover (JetStream cluster)", ""]
        rows = [
            [
                f"{f['signal']} {f['role']} {f['victim']}",
                format_value(f["start_s"]),
                f"{f['leader_before']} -> {f['leader_after']}",
                format_value(f["election_gap_s"]),
                format_value(f["max_ack_stall_s"]),
                format_value(f["node_restart_s"]),
            ]
            for f in failovers
        ]
        header = ["node down", "at s", "stream leader", "gap s", "max ack stall s", "restart s"]
        lines += _table(header, rows)
        lines.append(
            "gap: from the strike to the first ack of a batch sent after it; max ack stall: "
            "the longest publish->ack of a batch sent during the fault (+ settle)."
        )
        lines.append("")
    lines += ["## All metrics", ""]
    rows = [
        [f"`{k}`", format_value(v), report.units.get(k, "")]
        for k, v in sorted(report.metrics.items())
    ]
    lines += _table(["metric", "value", "unit"], rows)
    if report.notes:
        lines += ["## Notes", "", *[f"- {n}" for n in report.notes], ""]
    return "\n".join(lines)
