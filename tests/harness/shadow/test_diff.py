"""The shadow diff against a real PostgreSQL SCADA store and a PI-style CSV, both fed from
the feed twinbench stored: every seeded discrepancy is found on its tag, clean tags (lossless
and lossy legacy alike) raise nothing."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest

from harness.shadow.diff import diff_store
from harness.shadow.inject import EXPECTED_REASON, SECONDARY_REASONS
from harness.shadow.legacy_read import LegacyData, read_pi_csv, read_postgres
from harness.shadow.rules import RuleSet
from harness.shadow.verdict import DiffReport, TagResult
from historian.model import PointBatch

from .conftest import CLEAN, END, INJECTIONS, START, H, World, fresh_db, write_scada


def _by_name(report: DiffReport) -> dict[str, TagResult]:
    return {t.tag: t for t in report.tags}


def _legacy(world: World, source: str, *, dirty: bool) -> LegacyData:
    if source == "postgresql":
        return read_postgres(world.dirty_dsn if dirty else world.clean_dsn, START, END)
    return read_pi_csv(str(world.dirty_csv if dirty else world.clean_csv), START, END)


@pytest.mark.parametrize("source", ["postgresql", "pi-csv"])
def test_clean_legacy_raises_no_alarm(world: World, source: str) -> None:
    report = diff_store(world.engine, _legacy(world, source, dirty=False), START, END)
    expected = "match" if source == "postgresql" else "within_tolerance"  # PI is lossy
    assert {t.verdict for t in report.tags} == {expected}, [t.discrepancies for t in report.tags]
    assert not report.failed
    assert all(t.compared > 0 and t.mismatched == 0 for t in report.tags)
    if source == "pi-csv":
        assert all(t.legacy_points < t.twinbench_points / 5 for t in report.tags)  # really lossy
    else:
        assert {t.rollup_rule for t in report.tags} == {"event"}  # the seed's AVG(value)


@pytest.mark.parametrize("source", ["postgresql", "pi-csv"])
@pytest.mark.parametrize("kind", sorted(INJECTIONS))
def test_each_seeded_discrepancy_is_found_on_its_tag(world: World, source: str, kind: str) -> None:
    report = diff_store(world.engine, _legacy(world, source, dirty=True), START, END)
    tags = _by_name(report)
    hit = tags[world.name(INJECTIONS[kind].series)]
    kinds = {r.kind for r in hit.discrepancies}
    assert hit.verdict == "mismatch"
    assert EXPECTED_REASON[kind] in kinds, (kind, hit.reasons)
    assert kinds - {EXPECTED_REASON[kind]} <= SECONDARY_REASONS, hit.reasons
    for series in CLEAN:
        assert not tags[world.name(series)].discrepancies
    assert report.failed


def test_found_discrepancies_carry_their_figures(world: World) -> None:
    tags = _by_name(diff_store(world.engine, _legacy(world, "postgresql", dirty=True), START, END))
    offset = tags[world.name(INJECTIONS["offset"].series)]
    assert offset.time_offset_s == pytest.approx(2.0)
    scale = tags[world.name(INJECTIONS["scale"].series)]
    assert scale.scale_ratio == pytest.approx(6.894757, rel=1e-9)
    (gap,) = [r for r in tags[world.name(1)].reasons if r.kind == "gap_in_legacy"]
    (lo, hi) = gap.ranges[0]
    assert lo <= "2026-01-01T01:00:00.000Z" and hi >= "2026-01-01T02:00:00.000Z"
    (stuck,) = [r for r in tags[world.name(2)].reasons if r.kind == "stuck_in_legacy"]
    assert stuck.ranges[0][0] < "2026-01-01T01:02:00.000Z" < stuck.ranges[0][1]


def test_duplicates_from_a_redelivered_batch(world: World, postgres_server) -> None:  # type: ignore[no-untyped-def]
    dsn = fresh_db(postgres_server)
    write_scada(dsn, world.catalogue, world.feed)
    again = world.feed.series == 7
    f = world.feed
    first = np.flatnonzero(again)[:100]
    write_scada(
        dsn,
        world.catalogue,
        PointBatch(f.series[first], f.ts[first], f.values[first], f.quality[first]),
    )
    tags = _by_name(diff_store(world.engine, read_postgres(dsn, START, END), START, END))
    dup = tags[world.name(7)]
    found = {r.kind: r.count for r in dup.discrepancies}
    # the duplicated readings count twice in the legacy's AVG of that hour, too
    assert found == {"duplicates": 100, "rollup_mismatch": 1}
    assert tags[world.name(6)].verdict == "match"


def test_missing_on_either_side(world: World) -> None:
    legacy = read_postgres(world.clean_dsn, START, END)
    # drop tag 8 from the legacy, and add a legacy tag twinbench's catalogue lacks
    i = legacy.names.index(f"ns=2;s={world.name(8)}")
    legacy.names[i] = "ns=2;s=acme.permian.north.pad01.well9999.esp.tubing_pressure"
    tags = _by_name(diff_store(world.engine, legacy, START, END))
    assert tags[world.name(8)].verdict == "missing_in_legacy"
    assert (
        tags["acme.permian.north.pad01.well9999.esp.tubing_pressure"].verdict
        == "missing_in_twinbench"
    )


def test_gap_in_twinbench(world: World) -> None:
    legacy = read_postgres(world.clean_dsn, START, END)
    # twinbench's view of an hour the legacy has: diff the store against a legacy that
    # holds extra readings in a stretch twinbench never recorded (the hour after END)
    end2 = END + H
    s = legacy.series(f"ns=2;s={world.name(6)}")
    assert s is not None
    extra_ts = END + np.arange(0, H, 10**9, dtype=np.int64)
    legacy = LegacyData(
        "postgresql", [f"ns=2;s={world.name(6)}"], np.concatenate([s.ts, extra_ts]),
        np.concatenate([s.values, np.full(len(extra_ts), 50.0)]),
        np.concatenate([s.severity, np.zeros(len(extra_ts), np.uint8)]),
        np.array([0, len(s.ts) + len(extra_ts)]),
    )  # fmt: skip
    res = _by_name(diff_store(world.engine, legacy, START, end2, tags=world.name(6)))[world.name(6)]
    assert "gap_in_twinbench" in {r.kind for r in res.discrepancies}


def test_rollup_rule_reports_time_weighted_legacy(world: World, postgres_server) -> None:  # type: ignore[no-untyped-def]
    dsn = fresh_db(postgres_server)
    write_scada(dsn, world.catalogue, world.feed)
    name = world.name(6)
    tw = world.engine.summary(name, START, END, H, ["average"], "time", treat_uncertain_as_bad=True)
    with psycopg.connect(dsn) as conn:  # a legacy whose rollups are time-weighted
        for b, avg in zip(tw.start.tolist(), tw.average.tolist(), strict=True):
            conn.execute(
                "UPDATE scada_readings_hourly SET avg_value = %s WHERE tag_node_id = %s AND "
                "bucket = to_timestamp(%s)", (avg, f"ns=2;s={name}", b / 1e9),
            )  # fmt: skip
    tags = _by_name(diff_store(world.engine, read_postgres(dsn, START, END), START, END))
    assert tags[name].rollup_rule == "time"
    assert tags[world.name(7)].rollup_rule == "event"


def test_rules_file_widens_a_tolerance(world: World, tmp_path) -> None:  # type: ignore[no-untyped-def]
    legacy = read_postgres(world.clean_dsn, START, END)
    name = world.name(6)
    s = legacy.series(f"ns=2;s={name}")
    assert s is not None
    s.values[:] += 0.1  # a calibration bias of 0.1 bar in the legacy (a view: edits legacy)
    strict = _by_name(diff_store(world.engine, legacy, START, END, tags=name))[name]
    assert strict.verdict == "mismatch" and strict.mismatched > 0
    rules = tmp_path / "rules.toml"
    rules.write_text(
        f'[default]\nabs_tol = 0\n\n[tags."{name}"]\nabs_tol = 0.2\nrollup_rel_tol = 0.01\n'
    )
    loose = _by_name(
        diff_store(world.engine, legacy, START, END, tags=name, rules=RuleSet.load(rules))
    )[name]
    assert loose.verdict == "within_tolerance", loose.reasons


def test_stepped_tag_is_compared_with_held_values(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A state tag the legacy scans half a second after twinbench and stores by exception
    (each change with the value before it, as PI does): stepped, twinbench's at-time values
    at those instants are the held states (exact); read as linear they would be half-way."""
    from harness.shadow.rules import Rules
    from historian import Historian
    from historian.catalogue import TagCatalogue, TagInfo
    from historian.query.engine import QueryEngine

    name = "acme.permian.north.pad01.well0000.esp.running"
    ts = START + np.arange(0, 3600, dtype=np.int64) * 10**9
    state = ((np.arange(3600) // 300) % 2).astype(np.float64)  # flips every 5 minutes
    db = Historian.open(str(tmp_path / "store"))
    try:
        db.write_arrays(np.full(len(ts), 1), ts, state)
        k = np.flatnonzero(np.diff(state)) + 1  # first sample of each new state
        idx = np.unique(np.concatenate([[0], k - 1, k]))
        legacy = LegacyData(
            "postgresql", [f"ns=2;s={name}"], ts[idx] + 500_000_000,
            state[idx], np.zeros(len(idx), np.uint8), np.array([0, len(idx)]),
        )  # fmt: skip
        end = START + 3600 * 10**9
        rules = RuleSet(Rules(skew_s=0.1))

        def diff(**tag_fields: object) -> TagResult:
            tag = TagInfo(1, name, dtype="bool", **tag_fields)  # type: ignore[arg-type]
            engine = QueryEngine(db, TagCatalogue([tag]))
            return diff_store(engine, legacy, START, end, rules=rules).tags[0]

        held = diff(stepped=True, excdev=0.0)  # reported on change: ExcDev 0
        assert held.verdict == "within_tolerance" and held.exact == held.compared, held.reasons
        linear = diff(stepped=False, excdev=0.0)
        # read as linear, the half-second scan phase shows as a constant offset
        assert linear.verdict == "mismatch" and linear.time_offset_s == 0.5, linear.reasons
        # without an ExcDev the legacy is taken as lossless: 5 silent minutes are gaps
        lossless = diff(stepped=True)
        assert {r.kind for r in lossless.discrepancies} == {"gap_in_legacy"}
    finally:
        db.close()
