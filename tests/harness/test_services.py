"""Real services end to end: nats-server (single and R3 cluster), moto S3, PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nats
import psutil
import pytest
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NoStreamResponseError

from harness.config import loads_config
from harness.services import (
    EmbeddedStack,
    NatsCluster,
    NatsServer,
    PostgresServer,
    S3Server,
    owned_pids,
)

pytestmark = pytest.mark.service


def assert_gone(pids: list[int]) -> None:
    """Every PID is reaped (or was never our child) and no longer exists."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
            pytest.fail(f"PID {pid} is still an unreaped child of the test process")
        except ChildProcessError:
            pass  # reaped already, or never our child (PostgreSQL backends)
        deadline = time.monotonic() + 5
        while psutil.pid_exists(pid) and time.monotonic() < deadline:
            # A grandchild reparented to PID 1 may linger as a zombie for a moment.
            try:
                if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                    time.sleep(0.05)
                    continue
            except psutil.NoSuchProcess:
                break
            time.sleep(0.05)
        assert not psutil.pid_exists(pid), f"PID {pid} still exists after stop"
        assert pid not in owned_pids()


async def _publish_and_pull(urls: list[str], stream: str, replicas: int, count: int) -> None:
    nc = await nats.connect(servers=urls, connect_timeout=5)
    try:
        js = nc.jetstream()
        await js.add_stream(
            StreamConfig(
                name=stream,
                subjects=[f"{stream}.>"],
                storage=StorageType.FILE,
                num_replicas=replicas,
            )
        )
        for i in range(count):
            ack = await js.publish(f"{stream}.data", f"m{i}".encode(), timeout=5)
            assert ack.seq == i + 1
        sub = await js.pull_subscribe(f"{stream}.>", durable="reader", stream=stream)
        got: list[bytes] = []
        while len(got) < count:
            for msg in await sub.fetch(min(50, count - len(got)), timeout=5):
                got.append(msg.data)
                await msg.ack_sync()
        assert got == [f"m{i}".encode() for i in range(count)]
        info = await js.consumer_info(stream, "reader")
        assert info.num_pending == 0 and info.num_ack_pending == 0
    finally:
        await nc.close()


async def test_nats_single_node_jetstream_publish_pull_ack(nats_server: NatsServer) -> None:
    assert nats_server.log_path.exists()
    await _publish_and_pull([nats_server.url], "SINGLE", replicas=1, count=200)


async def test_nats_kill_and_restart_keeps_port_and_stream_data(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="CRASH", subjects=["crash.>"]))
    for i in range(100):
        await js.publish("crash.x", str(i).encode())
    await nc.close()

    old_pid, old_url = nats_server.pid, nats_server.url
    nats_server.kill()  # SIGKILL: no shutdown path runs
    assert_gone([old_pid])
    nats_server.restart()
    assert nats_server.url == old_url and nats_server.pid != old_pid

    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        info = await js.stream_info("CRASH")
        assert info.state.messages == 100
        assert (await js.get_msg("CRASH", 100)).data == b"99"
    finally:
        await nc.close()


async def test_nats_cluster_r3_publish_consume_and_survive_node_kill(
    nats_cluster: NatsCluster,
) -> None:
    assert len(nats_cluster.pids) == 3
    await _publish_and_pull(nats_cluster.urls, "TRIPLE", replicas=3, count=100)

    nc = await nats.connect(servers=nats_cluster.urls, connect_timeout=5)
    try:
        js = nc.jetstream()
        leader = (await js.stream_info("TRIPLE")).cluster.leader  # type: ignore[union-attr]
        victim = next(n for n in nats_cluster.nodes if n.name == leader)
        victim_pid = victim.pid
        victim.kill()  # the hardest case: the stream's leader dies
        assert_gone([victim_pid])

        # Two of three replicas remain: a quorum, so publishing must go on once
        # a new leader is elected (bounded wait; no-responders while electing).
        deadline = time.monotonic() + 20
        acked = 0
        while acked < 50:
            try:
                await js.publish("TRIPLE.after", str(acked).encode(), timeout=2)
                acked += 1
            except (NoStreamResponseError, nats.errors.TimeoutError, nats.errors.NoRespondersError):
                assert time.monotonic() < deadline, "R3 stream did not accept writes after kill"
                await asyncio.sleep(0.2)
        info = await js.stream_info("TRIPLE")
        assert info.state.messages == 150
        assert info.cluster is not None and info.cluster.leader != leader
    finally:
        await nc.close()
        if not victim.running:
            victim.restart()  # leave the module fixture whole
    nats_cluster.wait_meta_leader()


def test_s3_put_get_list(s3_server: S3Server, s3_bucket: str) -> None:
    s3 = s3_server.client()
    payload = os.urandom(256 * 1024)
    for i in range(3):
        s3.put_object(
            Bucket=s3_bucket, Key=f"site=a/date=2026-01-0{i + 1}/part.parquet", Body=payload
        )
    s3.put_object(Bucket=s3_bucket, Key="other/x", Body=b"x")
    listed = s3.list_objects_v2(Bucket=s3_bucket, Prefix="site=a/")
    assert [o["Key"] for o in listed["Contents"]] == [
        f"site=a/date=2026-01-0{i + 1}/part.parquet" for i in range(3)
    ]
    body = s3.get_object(Bucket=s3_bucket, Key="site=a/date=2026-01-02/part.parquet")["Body"].read()
    assert body == payload


def test_postgres_create_copy_select(postgres_db: str) -> None:
    import psycopg

    rows = [(i % 7, 1_700_000_000_000 + i * 1000, i * 0.5, 192) for i in range(5000)]
    with psycopg.connect(postgres_db) as conn:
        conn.execute(
            "CREATE TABLE scada_readings (tag_id int, ts_ms bigint, value double precision,"
            " quality smallint, PRIMARY KEY (tag_id, ts_ms))"
        )
        with conn.cursor() as cur:
            with cur.copy("COPY scada_readings (tag_id, ts_ms, value, quality) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cur.execute("SELECT count(*), sum(value), min(ts_ms), max(ts_ms) FROM scada_readings")
            count, total, lo, hi = cur.fetchone()  # type: ignore[misc]
    assert count == len(rows)
    assert total == pytest.approx(sum(r[2] for r in rows))
    assert (lo, hi) == (rows[0][1], rows[-1][1])


def test_every_process_is_gone_after_stop(tmp_path: Path) -> None:
    nats_srv = NatsServer(tmp_path / "nats").start()
    s3 = S3Server(tmp_path / "s3").start()
    pg = PostgresServer(tmp_path / "pg", durable=False).start()
    pids = [nats_srv.pid, s3.pid, pg.pid]
    # PostgreSQL forks helpers (checkpointer, walwriter, ...): they must go too.
    pg_children = [p.pid for p in psutil.Process(pg.pid).children(recursive=True)]
    assert pg_children, "expected PostgreSQL helper processes"
    assert set(pids) <= owned_pids()
    for svc in (pg, s3, nats_srv):
        svc.close()
    assert_gone(pids + pg_children)
    assert not pg.running and not s3.running and not nats_srv.running


def test_embedded_stack_starts_only_embedded_services(tmp_path: Path) -> None:
    cfg = loads_config(
        """
        [s3]
        embedded = false
        endpoint = "http://127.0.0.1:9"
        bucket = "cold-tier"
        access_key = "a"
        secret_key = "b"
        [postgres]
        enabled = false
        """
    )
    with EmbeddedStack.from_config(cfg, tmp_path) as stack:
        assert stack.s3 is None and stack.postgres is None
        assert isinstance(stack.nats, NatsServer) and len(stack.pids) == 1
        ep = stack.endpoints
        assert ep.nats_urls == (stack.nats.url,)
        assert ep.s3_endpoint == "http://127.0.0.1:9" and ep.s3_bucket == "cold-tier"
        assert ep.postgres_dsn is None
        pids = stack.pids
    assert_gone(pids)


def test_cli_services_up_prints_endpoints_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "services", "up", "--base-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:  # bounded: the JSON document ends with "}"
            lines.append(line)
            if line.rstrip() == "}":
                break
        import json

        endpoints = json.loads("".join(lines))
        assert endpoints["nats_urls"][0].startswith("nats://127.0.0.1:")
        assert endpoints["s3_endpoint"].startswith("http://127.0.0.1:")
        assert endpoints["postgres_dsn"].startswith("postgresql://postgres@127.0.0.1:")
        children = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
        assert len(children) >= 3
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert_gone(children)
