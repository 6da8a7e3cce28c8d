"""A shadow world: one feed stored in a real twinbench store, a real PostgreSQL SCADA
database (the legacy writer's COPY path) and a PI-style CSV (lossy archive), with
every discrepancy kind seeded on its own tag of the legacy side and clean tags beside."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from harness.legacy.pi_legacy import PiLegacyArchive
from harness.legacy.scada_writer import ScadaAggregator, ScadaTagMap
from harness.services import PostgresServer
from harness.shadow.inject import Injection, apply_injections, shadow_feed
from historian import Historian
from historian.catalogue import TagCatalogue
from historian.model import PointBatch
from historian.query.engine import QueryEngine

S = 1_000_000_000
H = 3600 * S
START = 1_767_225_600 * S  # 2026-01-01T00:00:00Z
END = START + 3 * H
TAGS = 8
INJECTIONS = {
    "drop": Injection("drop", 1, START + H, START + 2 * H),
    "stuck": Injection("stuck", 2, START + H, START + H + 1200 * S),
    "scale": Injection("scale", 3, factor=6.894757),
    "offset": Injection("offset", 4, shift_ns=2 * S),
    "quality": Injection("quality", 5),
}
CLEAN = (6, 7, 8)


@dataclass
class World:
    catalogue: TagCatalogue
    feed: PointBatch
    store: Path
    engine: QueryEngine
    clean_dsn: str
    dirty_dsn: str
    clean_csv: Path
    dirty_csv: Path
    closed_store: Path
    """The same store, closed (for the command line, which opens it itself)."""

    def name(self, series: int) -> str:
        tag = self.catalogue.by_id(series)
        assert tag is not None
        return tag.name


def fresh_db(server: PostgresServer) -> str:
    name = f"shadow_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server.dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return server.dsn.rsplit("/", 1)[0] + f"/{name}"


def write_scada(dsn: str, catalogue: TagCatalogue, batch: PointBatch) -> None:
    agg = ScadaAggregator(dsn, ScadaTagMap.from_catalogue(catalogue))
    try:
        agg.add(batch)
        agg.flush_due(force=True)
    finally:
        agg.close()


def write_pi(path: Path, catalogue: TagCatalogue, batch: PointBatch) -> None:
    pi = PiLegacyArchive(catalogue)
    pi.add(batch)
    pi.export_csv(path)


@pytest.fixture(scope="module")
def world(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    root = tmp_path_factory.mktemp("shadow")
    catalogue, feed = shadow_feed(TAGS, START, 3 * 3600, seed=3)
    db = Historian.open(str(root / "store"))
    db.write_arrays(feed.series, feed.ts, feed.values, feed.quality)
    catalogue.save(root / "store")
    dirty = apply_injections(feed, list(INJECTIONS.values()))
    w = World(
        catalogue, feed, root / "store", QueryEngine(db, catalogue),
        fresh_db(postgres_server), fresh_db(postgres_server),
        root / "clean.csv", root / "dirty.csv",
        root / "closed",
    )  # fmt: skip
    closed = Historian.open(str(w.closed_store))
    closed.write_arrays(feed.series, feed.ts, feed.values, feed.quality)
    closed.close()
    catalogue.save(w.closed_store)
    write_scada(w.clean_dsn, catalogue, feed)
    write_scada(w.dirty_dsn, catalogue, dirty)
    write_pi(w.clean_csv, catalogue, feed)
    write_pi(w.dirty_csv, catalogue, dirty)
    try:
        yield w
    finally:
        db.close()
