"""The compression regression gate: corpus bytes/point against a committed baseline.

``reports/baseline/compression.json`` (schema below) holds, per corpus series,
the point count and bytes/point for the chooser and every value codec, plus
the outside baselines for information. ``check`` fails a series when

    now > baseline * (1 + relative) + absolute

for the chooser or any codec that had a figure, when the point count changed,
or when a series appeared or disappeared (run ``update-baseline`` and commit
the new file together with the change that explains it). Encoding is
deterministic, so the tolerance only absorbs library-version noise in pcodec.

Schema (``schema_version`` 1)::

    {"schema_version": 1,
     "tolerance": {"relative": 0.01, "absolute_bytes_per_point": 0.002},
     "series": {"<name>": {"points": int,
                           "chooser": float, "chooser_codecs": "ts+value+quality",
                           "codecs": {"<value codec>": float | null},
                           "external": {"pcodec": float, "parquet": float}}}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from historian.codec.chunk import encode_chunk
from historian.codec.corpus import REPO_ROOT, CorpusSeries
from historian.codec.measure import CHOOSER, Encoder, SeriesSizes, measure_series
from historian.errors import HistorianError

SCHEMA_VERSION = 1
DEFAULT_BASELINE = REPO_ROOT / "reports" / "baseline" / "compression.json"
DEFAULT_RELATIVE = 0.01
DEFAULT_ABSOLUTE = 0.002


class BaselineError(HistorianError, ValueError):
    """The baseline file is missing or malformed; regenerate it with update-baseline."""


@dataclass(frozen=True, slots=True)
class Tolerance:
    relative: float = DEFAULT_RELATIVE
    absolute: float = DEFAULT_ABSOLUTE

    def allows(self, now: float, baseline: float) -> bool:
        return now <= baseline * (1 + self.relative) + self.absolute


@dataclass(slots=True)
class GateRow:
    series: str
    points: int
    now: float | None
    baseline: float | None
    best_other: str
    problems: list[str] = field(default_factory=list)


@dataclass(slots=True)
class GateResult:
    rows: list[GateRow]

    @property
    def failures(self) -> list[str]:
        return [f"{r.series}: {p}" for r in self.rows for p in r.problems]

    @property
    def passed(self) -> bool:
        return not self.failures


def measure_corpus(corpus: list[CorpusSeries], encode: Encoder = encode_chunk) -> list[SeriesSizes]:
    return [measure_series(s.name, s.ts, s.values, s.quality, encode=encode) for s in corpus]


def _r(x: float) -> float:
    return round(x, 5)


def baseline_document(measured: list[SeriesSizes], tolerance: Tolerance) -> dict[str, Any]:
    series: dict[str, Any] = {}
    for m in measured:
        series[m.name] = {
            "points": m.points,
            "chooser": _r(m.chosen.bytes_per_point),
            "chooser_codecs": m.chosen.detail,
            "codecs": {
                k: None if v is None else _r(v.bytes_per_point) for k, v in m.codecs.items()
            },
            "external": {k: _r(v.bytes_per_point) for k, v in m.external.items()},
        }
    return {
        "schema_version": SCHEMA_VERSION,
        "tolerance": {
            "relative": tolerance.relative,
            "absolute_bytes_per_point": tolerance.absolute,
        },
        "series": series,
    }


def write_baseline(path: Path, measured: list[SeriesSizes], tolerance: Tolerance) -> None:
    doc = baseline_document(measured, tolerance)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")


def read_baseline(path: Path) -> tuple[dict[str, Any], Tolerance]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BaselineError(
            f"{path}: cannot read the baseline ({exc}); run update-baseline"
        ) from exc
    if not isinstance(doc, dict) or doc.get("schema_version") != SCHEMA_VERSION:
        raise BaselineError(
            f"{path}: expected schema_version {SCHEMA_VERSION}; run update-baseline"
        )
    tol = doc.get("tolerance", {})
    tolerance = Tolerance(
        float(tol.get("relative", DEFAULT_RELATIVE)),
        float(tol.get("absolute_bytes_per_point", DEFAULT_ABSOLUTE)),
    )
    return doc["series"], tolerance


def check(
    measured: list[SeriesSizes], baseline: dict[str, Any], tolerance: Tolerance
) -> GateResult:
    rows: list[GateRow] = []
    seen = set()
    for m in measured:
        seen.add(m.name)
        other = m.best_other()
        best = f"{other.name} {other.bytes_per_point:.3f}" if other else "-"
        base = baseline.get(m.name)
        now = m.chosen.bytes_per_point
        if base is None:
            rows.append(GateRow(m.name, m.points, now, None, best, ["not in the baseline"]))
            continue
        row = GateRow(m.name, m.points, now, float(base["chooser"]), best)
        if int(base["points"]) != m.points:
            row.problems.append(f"point count {m.points} != baseline {base['points']}")
        if not tolerance.allows(now, float(base["chooser"])):
            row.problems.append(f"{CHOOSER} {now:.4f} B/pt worse than baseline {base['chooser']}")
        for codec, was in base.get("codecs", {}).items():
            size = m.codecs.get(codec)
            if was is None:
                continue
            if size is None:
                row.problems.append(f"codec {codec} no longer applies (baseline {was})")
            elif not tolerance.allows(size.bytes_per_point, float(was)):
                row.problems.append(
                    f"codec {codec} {size.bytes_per_point:.4f} B/pt worse than baseline {was}"
                )
        rows.append(row)
    for name in baseline:
        if name not in seen:
            rows.append(GateRow(name, 0, None, None, "-", ["in the baseline but not measured"]))
    return GateResult(rows)
