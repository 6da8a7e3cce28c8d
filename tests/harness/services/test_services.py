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
from nats.js.client import JetStreamContext
from nats.js.errors import NoStreamResponseError, ServiceUnavailableError

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
    """Every PID has exited: reaped if it was our child, else gone or a zombie.

    Orphaned grandchildren (PostgreSQL helpers) are reaped by PID 1, which on
    this VM takes seconds; a zombie has exited and holds nothing but its PID.
    """
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
            pytest.fail(f"PID {pid} is still an unreaped child of the test process")
        except ChildProcessError:
            pass  # reaped already, or never our child
        try:
            status = psutil.Process(pid).status()
        except psutil.NoSuchProcess:
            status = "gone"
        assert status in ("gone", psutil.STATUS_ZOMBIE), f"PID {pid} still {status} after stop"
        assert pid not in owned_pids()


RETRYABLE = (NoStreamResponseError, nats.errors.TimeoutError, nats.errors.NoRespondersError)


async def publish_retrying(js: JetStreamContext, subject: str, data: bytes, deadline: float) -> int:
    """Publish until acked; a stream electing a leader answers "no responders" for a while."""
    while True:
        try:
            return (await js.publish(subject, data, timeout=2)).seq
        except RETRYABLE:
            assert time.monotonic() < deadline, f"no ack for {subject} before the deadline"
            await asyncio.sleep(0.1)


async def _publish_and_pull(urls: list[str], stream: str, replicas: int, count: int) -> None:
    nc = await nats.connect(servers=urls, connect_timeout=5)
    try:
        js = nc.jetstream()
        deadline = time.monotonic() + 20
        config = StreamConfig(
            name=stream, subjects=[f"{stream}.>"], storage=StorageType.FILE, num_replicas=replicas
        )
        # A fresh cluster can take longer than one API timeout to place an R3 stream on a
        # loaded machine; creating it again with the same config is accepted by the server.
        while True:
            try:
                await js.add_stream(config)
                break
            except RETRYABLE:
                assert time.monotonic() < deadline, f"stream {stream} not created in time"
                await asyncio.sleep(0.2)
        for i in range(count):
            seq = await publish_retrying(js, f"{stream}.data", f"m{i}".encode(), deadline)
            assert seq == i + 1
        sub = await js.pull_subscribe(f"{stream}.>", durable="reader", stream=stream)
        got: list[bytes] = []
        deadline = time.monotonic() + 60
        while len(got) < count:
            # a new R3 consumer answers 503 (ServiceUnavailable) until its leader is
            # elected; a loaded clean-clone CI run hit it on the first fetch
            try:
                msgs = await sub.fetch(min(50, count - len(got)), timeout=5)
            except (*RETRYABLE, ServiceUnavailableError):
                assert time.monotonic() < deadline, f"consumer of {stream} never answered"
                await asyncio.sleep(0.2)
                continue
            for msg in msgs:
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
    victim = None
    try:
        js = nc.jetstream()
        # a loaded machine can take more than one API timeout to answer right after
        # the stream was created: retry until a deadline (a clean-clone CI run hit it)
        deadline = time.monotonic() + 30
        while True:
            try:
                info = await js.stream_info("TRIPLE")
                break
            except RETRYABLE:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        leader = info.cluster.leader  # type: ignore[union-attr]
        victim = next(n for n in nats_cluster.nodes if n.name == leader)
        victim_pid = victim.pid
        victim.kill()  # the hardest case: the stream's leader dies
        assert_gone([victim_pid])

        # Two of three replicas remain: a quorum, so publishing must go on once
        # a new leader is elected (bounded wait; no-responders while electing).
        killed_at = time.monotonic()
        deadline = killed_at + 20
        await publish_retrying(js, "TRIPLE.after", b"0", deadline)
        print(f"R3 stream writable again {time.monotonic() - killed_at:.2f} s after leader kill")
        for i in range(1, 50):
            await publish_retrying(js, "TRIPLE.after", str(i).encode(), deadline)
        info = await js.stream_info("TRIPLE")
        assert info.state.messages == 150
        assert info.cluster is not None and info.cluster.leader != leader
    finally:
        await nc.close()
        if victim is not None and not victim.running:
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
        [sys.executable, "-m", "harness.cli.app", "services", "up", "--base-dir", str(tmp_path)],
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


def test_nats_sync_interval_reaches_the_server(tmp_path: Path) -> None:
    with NatsServer(tmp_path / "n", sync_interval="always") as srv:
        assert srv.jsz()["config"].get("sync_always") is True


def test_postgres_kill_and_restart_keeps_committed_rows(tmp_path: Path) -> None:
    import psycopg

    with PostgresServer(tmp_path / "pg") as pg:
        with psycopg.connect(pg.dsn) as conn:
            conn.execute("CREATE TABLE t (i int)")
            conn.execute("INSERT INTO t SELECT generate_series(1, 1000)")
        old_pid, old_dsn = pg.pid, pg.dsn
        helpers = [p.pid for p in psutil.Process(old_pid).children(recursive=True)]
        pg.kill()  # postmaster and helpers SIGKILLed: crash recovery on restart
        assert_gone([old_pid, *helpers])
        pg.restart()
        assert pg.dsn == old_dsn and pg.pid != old_pid
        with psycopg.connect(pg.dsn) as conn:
            assert conn.execute("SELECT count(*) FROM t").fetchone() == (1000,)
        assert "database system was interrupted" in pg.log_path.read_text()
