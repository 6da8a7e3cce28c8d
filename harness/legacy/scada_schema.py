"""The legacy SCADA store's schema: ``scada_readings`` partitioned by day, plus rollups.

The shape is the seed design's: one row per reading,
``(well_id uuid, tag_node_id text, "timestamp" timestamptz, value double precision,
quality text)``, ``tag_node_id`` the OPC UA node id string ``ns=2;s=<path>`` and
``quality`` one of ``Good``, ``Uncertain``, ``Bad``. TimescaleDB is not in Debian,
so the day chunks are native declarative partitions (created ahead of the writes
that need them) and the hourly/daily "continuous aggregates" are plain tables
refreshed for the buckets a write touched, the way a continuous-aggregate refresh
policy recomputes invalidated buckets. Their average is the seed's ``AVG(value)``
over the bucket's Good readings: **event-weighted** (every reading counts once,
however long it held), which is exactly what the shadow diff has to tell apart
from twinbench's time-weighted average.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

__all__ = [
    "DAILY_TABLE",
    "HOURLY_TABLE",
    "READINGS_TABLE",
    "create_schema",
    "ensure_day_partitions",
    "node_id",
    "refresh_rollups",
]

READINGS_TABLE = "scada_readings"
HOURLY_TABLE = "scada_readings_hourly"
DAILY_TABLE = "scada_readings_daily"
NODE_ID_PREFIX = "ns=2;s="
_DAY_NS = 86_400 * 1_000_000_000


def node_id(path: str) -> str:
    """The OPC UA node id string of a tag path (what the SCADA writer stores)."""
    return f"{NODE_ID_PREFIX}{path}"


def create_schema(conn: psycopg.Connection) -> None:
    """Create the partitioned readings table and the two rollup tables (idempotent)."""
    conn.execute(
        f"""CREATE TABLE IF NOT EXISTS {READINGS_TABLE} (
            well_id uuid NOT NULL,
            tag_node_id text NOT NULL,
            "timestamp" timestamptz NOT NULL,
            value double precision,
            quality text NOT NULL CHECK (quality IN ('Good', 'Uncertain', 'Bad'))
        ) PARTITION BY RANGE ("timestamp")"""
    )
    conn.execute(
        f"CREATE INDEX IF NOT EXISTS {READINGS_TABLE}_tag_time "
        f'ON {READINGS_TABLE} (tag_node_id, "timestamp")'
    )
    # the rollup refresh selects by time alone: a BRIN index (tiny, append-ordered data) serves it
    conn.execute(
        f"CREATE INDEX IF NOT EXISTS {READINGS_TABLE}_time_brin "
        f'ON {READINGS_TABLE} USING brin ("timestamp")'
    )
    for table in (HOURLY_TABLE, DAILY_TABLE):
        conn.execute(
            f"""CREATE TABLE IF NOT EXISTS {table} (
                tag_node_id text NOT NULL,
                bucket timestamptz NOT NULL,
                avg_value double precision,
                min_value double precision,
                max_value double precision,
                readings bigint NOT NULL,
                PRIMARY KEY (tag_node_id, bucket)
            )"""
        )
    conn.commit()


def _day_start(ns: int) -> datetime:
    day = ns - ns % _DAY_NS
    return datetime.fromtimestamp(day // 1_000_000_000, UTC)


def ensure_day_partitions(conn: psycopg.Connection, lo_ns: int, hi_ns: int) -> list[str]:
    """Create the day partitions covering ``[lo_ns, hi_ns]`` that do not exist yet."""
    made: list[str] = []
    day = _day_start(lo_ns)
    last = _day_start(hi_ns)
    while day <= last:
        name = f"{READINGS_TABLE}_{day:%Y%m%d}"
        nxt = day + timedelta(days=1)
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {READINGS_TABLE} "
            f"FOR VALUES FROM ('{day.isoformat()}') TO ('{nxt.isoformat()}')"
        )
        made.append(name)
        day = nxt
    return made


def refresh_rollups(conn: psycopg.Connection, lo_ns: int, hi_ns: int) -> None:
    """Recompute the hourly and daily buckets overlapping ``[lo_ns, hi_ns]``.

    Like a continuous aggregate's refresh window: delete the touched buckets and
    insert them again, hourly from the readings (event-weighted ``AVG`` of Good
    values), daily from the hourly rows (a hierarchical aggregate: the reading-
    weighted mean of hourly averages is exactly the day's ``AVG``, without
    rescanning a day of readings on every refresh).
    """
    window = {
        "lo": datetime.fromtimestamp(lo_ns / 1e9, UTC),
        "hi": datetime.fromtimestamp(hi_ns / 1e9, UTC),
    }
    sources = (
        (HOURLY_TABLE, "hour", READINGS_TABLE, '"timestamp"',
         "avg(value), min(value), max(value), count(*)",
         "quality = 'Good' AND value <> 'NaN'"),
        (DAILY_TABLE, "day", HOURLY_TABLE, "bucket",
         "sum(avg_value * readings) / sum(readings), min(min_value), max(max_value), "
         "sum(readings)",
         "TRUE"),
    )  # fmt: skip
    for table, unit, source, time_col, aggregates, usable in sources:
        bounds = (
            f"date_trunc('{unit}', %(lo)s::timestamptz) AND "
            f"date_trunc('{unit}', %(hi)s::timestamptz) + interval '1 {unit}'"
        )
        conn.execute(
            f"DELETE FROM {table} WHERE bucket >= {bounds.replace(' AND ', ' AND bucket < ', 1)}",
            window,
        )
        conn.execute(
            f"""INSERT INTO {table}
                SELECT tag_node_id, date_trunc('{unit}', {time_col}) AS bucket, {aggregates}
                FROM {source}
                WHERE {time_col} >= {bounds.replace(" AND ", f" AND {time_col} < ", 1)}
                  AND {usable}
                GROUP BY 1, 2""",
            window,
        )
