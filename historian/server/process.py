"""The historian server process: one store, its ingest, its front ends, one lifecycle.

Start-up order: open the store (WAL replay; the ``recovery_report`` is logged on
stderr and exported by the metrics front end), load the tag catalogue, start the
front ends, subscribe the ingest workers, write the ready file, print ``READY``
on stdout (the harness waits for that line). Then serve until ``stop`` is set
(SIGINT/SIGTERM in the CLI) or the ingest gives up on the store.

Durability (what a JetStream ack means), ``ServeConfig.durability``:

- ``fsync`` (default): the ack is sent only after the batch is fsynced in the
  WAL (``FsyncPolicy.always()``; concurrent partitions share one fsync, group
  commit). An acked point survives power loss.
- ``os``: the ack is sent once the batch is written to the OS (page cache); a
  background thread fsyncs every 5 ms. Survives SIGKILL of the historian, not a
  power cut (up to ~5 ms of acked batches can be lost). For benchmarks.

Exit codes: 0 clean stop, 1 the store could not be opened, 2 usage error,
:data:`EXIT_STORE_UNUSABLE` (3) the store refused every write until reopened (a
failed fsync poisoned the WAL): nothing was acked or dead-lettered, and a
supervisor restarting the process makes JetStream redeliver.

Front ends (``FrontEnd``) are what a client talks to. Each contributes keys to
the ready file: the metrics endpoint adds ``"metrics"``; the HTTP API and OPC UA
HistoryRead front ends add ``"http"`` and ``"opcua"``. With ``--nats`` the first
front end is the collector connection manager (historian.server.connections).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from historian.bus.auth import NatsAuth
from historian.bus.options import BusOptions
from historian.fs import FileSystem
from historian.ingest.health import StoreUnusableError
from historian.ingest.metrics import IngestExporter, export_loop
from historian.ingest.service import IngestHost
from historian.ingest.sources import SourceBinding
from historian.lsm.engine import Historian
from historian.options import (
    ACCEPT_FUTURE_DEFAULT_NS,
    ACCEPT_PAST_DEFAULT_NS,
    FsyncPolicy,
    Options,
)
from historian.server.stall_watch import StallWatch

if TYPE_CHECKING:
    from historian.api.routing import QueryRouter
    from historian.catalogue import TagCatalogue
    from historian.opcua.security import SecureModeConfig
    from historian.server.connections import ConnectionManager

EXIT_STORE_UNUSABLE = 3
Durability = Literal["fsync", "os"]
OS_DURABILITY_FSYNC_MS = 5


def fsync_policy(durability: Durability) -> FsyncPolicy:
    """The WAL policy behind each ``--durability`` mode (see the module docstring)."""
    if durability == "fsync":
        return FsyncPolicy.always()
    return FsyncPolicy.interval(OS_DURABILITY_FSYNC_MS)


@dataclass(frozen=True)
class ServeConfig:
    """Everything ``twinbench historian serve`` is told on its command line."""

    data_dir: Path
    nats_url: str | None = None
    """Host the ingest workers (consume the stream) when given."""
    partitions: tuple[int, ...] = (0,)
    partition_count: int = 1
    stream: str = BusOptions().stream
    notify_url: str | None = None
    catalogue: Path | None = None
    """Catalogue TOML merged into the store's persisted catalogue at start."""
    durability: Durability = "fsync"
    fsync: FsyncPolicy | None = None
    """Explicit WAL policy; overrides ``durability`` (advanced)."""
    accept_past_ns: int | None = ACCEPT_PAST_DEFAULT_NS
    accept_future_ns: int | None = ACCEPT_FUTURE_DEFAULT_NS
    retention_ns: int | None = None
    encryption_key: Path | None = None
    """Key file: the store's WAL and segments are encrypted at rest (historian.crypto)."""
    ready_file: Path | None = None
    metrics_port: int | None = None
    """Serve ``/metrics`` and ``/healthz`` on 127.0.0.1 (0 = any free port)."""
    http: str | None = None
    """``HOST:PORT`` of the HTTP API and trend viewer (historian.api; port 0 = any free)."""
    tokens: Path | None = None
    """Bearer tokens TOML guarding the HTTP API (historian.api.auth)."""
    http_tls: tuple[Path, Path] | None = None
    """(certificate, key) PEM files: the HTTP API over HTTPS (``--tls-cert``/``--tls-key``)."""
    gil_switch_ms: float | None = None
    """``sys.setswitchinterval`` in ms for the process (``--gil-switch-ms``); None: Python's."""
    http_limits: tuple[tuple[str, int], ...] = ()
    """Overridden ``historian.api.health.ApiLimits`` fields (``--http-limit NAME=N``)."""
    opcua: str | None = None
    """``HOST:PORT`` of the OPC UA server with HistoryRead (historian.opcua; port 0 = any)."""
    opcua_limits: tuple[tuple[str, int], ...] = ()
    """Overridden ``historian.opcua.service.HistoryLimits`` fields (``--opcua-limit NAME=N``)."""
    opcua_secure: SecureModeConfig | None = None
    """OPC UA secure mode (``--opcua-security secure``; historian.opcua.security)."""
    tier: Path | None = None
    """TOML with the cold tier's ``[s3]``/``[tier]`` tables: export while serving."""
    bucket_ns: int | None = None
    """Segment bucket width (``Options.bucket_ns``; None: the engine's 1 h)."""
    l2_settle_buckets: int | None = None
    """``Options.l2_settle_buckets`` (None: the engine's 1)."""
    bus: BusOptions = field(default_factory=BusOptions)
    nats_auth: NatsAuth = field(default_factory=NatsAuth)
    """NKEY seed / TLS for both NATS connections (historian.bus.auth; plain by default)."""
    bind_only: bool = False
    """Streams and consumers provisioned by an operator: only bind to them."""
    sources: SourceBinding | None = None
    """Refuse batches of a source that does not belong to their partition
    (historian.ingest.sources; ``--source-owners``, on by default with ``--nats-nkey``)."""
    connections_allow_remote: bool = False
    """Managed connections may dial endpoints off loopback (historian.server.connections)."""
    max_connections: int = 16
    """Managed collector connections at once (``POST /api/v1/connections`` beyond: 409)."""
    managed_identities: Path | None = None
    """Their bus identities on a secured bus (historian.server.managed_identities)."""
    node: str | None = None
    """Join the partition assignment table as this node (historian.server.partition_owner):
    partitions are claimed and handed over at run time instead of ``partitions``."""
    assignment_bucket: str = "twinbench-partitions"

    @property
    def wal_policy(self) -> FsyncPolicy:
        return self.fsync or fsync_policy(self.durability)


class FrontEnd(Protocol):
    """Something clients talk to while the server runs (metrics, HTTP API, OPC UA)."""

    name: str

    async def start(self, server: HistorianServer) -> dict[str, str]:
        """Start serving; return the keys this front end adds to the ready file."""
        ...

    async def stop(self) -> None: ...


class MetricsFrontEnd:
    """Prometheus ``/metrics`` + ``/healthz`` of the ingest and the store's recovery."""

    name = "metrics"

    def __init__(self, port: int, tls: tuple[Path, Path] | None = None) -> None:
        self.port = port
        self.tls = tls
        """(certificate, key): HTTPS, the API's ``--tls-cert``/``--tls-key``."""
        self.exporter = IngestExporter()
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def start(self, server: HistorianServer) -> dict[str, str]:
        self.exporter.set_recovery(server.db.recovery_report)
        self.exporter.set_engine_latency(server.db.write_latency)
        tls = None if self.tls is None else (str(self.tls[0]), str(self.tls[1]))
        bound = self.exporter.serve(self.port, tls=tls)
        workers = server.ingest.workers if server.ingest is not None else []
        self._task = asyncio.create_task(export_loop(self.exporter, workers, self._stop))
        scheme = "http" if tls is None else "https"
        return {"metrics": f"{scheme}://127.0.0.1:{bound}"}

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
        self.exporter.close()


def _http_front_end(
    listen: str,
    tokens: Path | None,
    limits: tuple[tuple[str, int], ...],
    tls: tuple[Path, Path] | None = None,
) -> FrontEnd:
    # imported here: the API's packages (starlette, uvicorn) load only when --http is given
    from historian.api.auth import load_tokens
    from historian.api.frontend import HttpFrontEnd, TlsFiles, parse_listen
    from historian.api.health import ApiLimits

    host, port = parse_listen(listen)
    return HttpFrontEnd(
        host,
        port,
        tokens=load_tokens(tokens) if tokens is not None else None,
        limits=replace(ApiLimits(), **dict(limits)),
        tls=TlsFiles(*tls) if tls is not None else None,
    )


def _opcua_front_end(
    listen: str, limits: tuple[tuple[str, int], ...], secure: SecureModeConfig | None = None
) -> FrontEnd:
    # imported here: asyncua loads only when --opcua is given
    from historian.opcua.frontend import OpcUaFrontEnd, parse_listen
    from historian.opcua.service import HistoryLimits

    host, port = parse_listen(listen)
    return OpcUaFrontEnd(host, port, limits=replace(HistoryLimits(), **dict(limits)), secure=secure)


def _tier_front_end(path: Path, log: Callable[[str], None]) -> FrontEnd:
    # imported here: pyarrow and boto3 load only when --tier is given
    from historian.tier.config import TierConfig
    from historian.tier.serve import TierFrontEnd

    return TierFrontEnd(TierConfig.load(path), log)


Log = Callable[[str], None]


def _connection_manager(cfg: ServeConfig, log: Log) -> ConnectionManager:
    from historian.server.connection_spec import ConnectionPolicy
    from historian.server.connections import ConnectionManager

    assert cfg.nats_url is not None
    policy = ConnectionPolicy(cfg.connections_allow_remote, cfg.max_connections)
    pool = None
    if cfg.managed_identities is not None:
        from historian.server.managed_identities import IdentityPool

        pool = IdentityPool.load(cfg.managed_identities)
    return ConnectionManager(
        cfg.data_dir, cfg.nats_url, cfg.catalogue, policy,
        partitions=cfg.partition_count, replicas=cfg.bus.replicas, stream=cfg.stream, log=log,
        auth=cfg.nats_auth, identities=pool,
    )  # fmt: skip


def _partition_owner(server: HistorianServer, node: str, bucket: str, log: Log) -> QueryRouter:
    """The last front end (it needs the ingest and the HTTP URL): owns partitions by the table."""
    from historian.api.routing import QueryRouter
    from historian.server.partition_owner import PartitionOwner

    owner = PartitionOwner(node, bucket, log)
    server.front_ends.append(owner)
    return QueryRouter(owner.table_holders)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class HistorianServer:
    """Owns one open store for the process's lifetime; :meth:`run` serves until stopped."""

    def __init__(
        self,
        cfg: ServeConfig,
        *,
        fs: FileSystem | None = None,
        front_ends: list[FrontEnd] | None = None,
        log: Log = _stderr,
    ) -> None:
        self.cfg = cfg
        self._fs = fs or FileSystem()
        self.front_ends: list[FrontEnd] = list(front_ends or [])
        """Started in order after the ingest subscribed; later front ends append here."""
        if cfg.metrics_port is not None:
            self.front_ends.append(MetricsFrontEnd(cfg.metrics_port, cfg.http_tls))
        if cfg.http is not None:
            self.front_ends.append(
                _http_front_end(cfg.http, cfg.tokens, cfg.http_limits, cfg.http_tls)
            )
        if cfg.opcua is not None:
            self.front_ends.append(_opcua_front_end(cfg.opcua, cfg.opcua_limits, cfg.opcua_secure))
        if cfg.tier is not None:
            self.front_ends.append(_tier_front_end(cfg.tier, log))
        self._log = log
        self.connections: ConnectionManager | None = None
        """Collector connections (``/api/v1/connections``); with ``--nats`` only."""
        if cfg.nats_url is not None:
            self.connections = _connection_manager(cfg, log)
            self.front_ends.insert(0, self.connections)  # up before, down after the API
        from historian.events.frontend import EventsFrontEnd

        # a secured identity (--nats-nkey) has no rights on the events stream yet
        # (docs/security.md): the event store is served, the stream not consumed
        events_url = None if cfg.nats_auth.nkey_seed is not None else cfg.nats_url
        if events_url is None and cfg.nats_url is not None:
            log("historian: plant events not consumed (no events-stream rights with --nats-nkey)")
        self.events = EventsFrontEnd(cfg.data_dir / "events", events_url, cfg.bus, self._fs)
        """Plant events (``GET /api/v1/events``); consumes the events stream with ``--nats``."""
        self.front_ends.insert(0, self.events)
        self.router: QueryRouter | None = None
        """Routes tag queries to the partitions' holders (``--node``; historian.api.routing)."""
        if cfg.node is not None:
            self.router = _partition_owner(self, cfg.node, cfg.assignment_bucket, log)
        self.db: Historian
        self.options: Options
        self.ingest: IngestHost | None = None
        self.ready: dict[str, object] = {}
        self.catalogue: TagCatalogue | None = None
        """The tag catalogue in force once the store is open (front ends query by it)."""

    # --------------------------------------------------------------- start
    def open_store(self) -> None:
        """Open (recover) the store and load the catalogue; raises what the engine raises."""
        from historian.catalogue import TagCatalogue

        cfg = self.cfg
        stored = TagCatalogue.load(cfg.data_dir, self._fs) if cfg.data_dir.exists() else None
        catalogue = stored
        if cfg.catalogue is not None:
            from_file = TagCatalogue.load_toml(cfg.catalogue)
            catalogue = stored.merged(from_file) if stored is not None else from_file
        self.options = Options(
            fsync=cfg.wal_policy,
            series_index=catalogue.series_index() if catalogue is not None else None,
            past_window_ns=cfg.accept_past_ns,
            future_window_ns=cfg.accept_future_ns,
            retention_ns=cfg.retention_ns,
            encryption_key_file=str(cfg.encryption_key) if cfg.encryption_key else None,
        )
        if cfg.bucket_ns is not None:
            self.options = replace(self.options, bucket_ns=cfg.bucket_ns)
        if cfg.l2_settle_buckets is not None:
            self.options = replace(self.options, l2_settle_buckets=cfg.l2_settle_buckets)
        self.db = Historian.open(str(cfg.data_dir), self.options, self._fs)
        # numba kernels load on a thread, not in the first flush; the line marks the end
        # of the start-up CPU (benchmarks time from it)
        self.db.warm_up(lambda s: self._log(f"historian: kernels warm ({s:.1f} s)"))
        if catalogue is not None and catalogue is not stored:
            catalogue.save(cfg.data_dir, self._fs)
        self._log(
            f"historian: opened {cfg.data_dir} (WAL fsync {cfg.wal_policy.mode}); recovery "
            + json.dumps(self.db.recovery_report, default=str, sort_keys=True)
        )
        self.catalogue = catalogue
        tags = f"{len(catalogue)} tags" if catalogue is not None else "none (series unchecked)"
        self._log(f"historian: catalogue {tags}")

    async def run(self, stop: asyncio.Event) -> int:
        """Open, serve until ``stop`` (or the store fails), shut down; return the exit code.

        Front ends with a ``prepare(server)`` coroutine (the HTTP API) start serving
        before the store opens, answering "recovering" (503) during the WAL replay; the
        open then runs in a worker thread so they stay responsive. ``stop`` must be
        idempotent on them (it is called again if the open fails).
        """
        prepared: list[FrontEnd] = []
        try:
            for fe in self.front_ends:
                prepare = getattr(fe, "prepare", None)
                if prepare is not None:
                    await prepare(self)
                    prepared.append(fe)
            if prepared:
                await asyncio.to_thread(self.open_store)
            else:
                self.open_store()
            try:
                return await self._serve(stop)
            finally:
                self.db.close()
        finally:
            for fe in reversed(prepared):
                await fe.stop()

    async def _serve(self, stop: asyncio.Event) -> int:
        cfg = self.cfg
        ingest_stop = asyncio.Event()
        if cfg.nats_url is not None:
            bus = replace(cfg.bus, stream=cfg.stream, partitions=cfg.partition_count)
            self.ingest = IngestHost(
                self.db,
                cfg.nats_url,
                bus,
                list(cfg.partitions),
                cfg.data_dir,
                notify_url=cfg.notify_url,
                admission=self.options,
                fs=self._fs,
                auth=cfg.nats_auth,
                bind_only=cfg.bind_only,
                sources=cfg.sources,
            )
            await self.ingest.start()
        started: list[FrontEnd] = []
        try:
            self.ready = {"pid": os.getpid()}
            for fe in self.front_ends:
                self.ready.update(await fe.start(self))
                started.append(fe)
            # Everything allocated so far (imports, the catalogue, numba, the ASGI app:
            # ~100 k objects) lives as long as the server, and a full (generation 2)
            # collection walks all of it with the event loop stopped: 57-75 ms, measured,
            # a p99 spike for every batch in flight. Frozen, these are never scanned again;
            # what the server allocates from here on is collected as before.
            gc.freeze()
            self._log(f"historian: {gc.get_freeze_count():,} start-up objects frozen (gc)")
            stall_watch = StallWatch.from_env("historian")  # diagnostic: TWINBENCH_STALL_TRACE
            if stall_watch is not None:
                stall_watch.start()
            self._write_ready()
            print("READY", flush=True)
            return await self._wait(stop, ingest_stop)
        finally:
            for fe in reversed(started):
                await fe.stop()
            if self.ingest is not None:
                await self.ingest.close()
            if cfg.ready_file is not None:
                with contextlib.suppress(FileNotFoundError):
                    cfg.ready_file.unlink()

    async def _wait(self, stop: asyncio.Event, ingest_stop: asyncio.Event) -> int:
        waiters: list[asyncio.Task[object]] = [asyncio.create_task(stop.wait())]
        ingest_task = None
        if self.ingest is not None:
            ingest_task = asyncio.create_task(self.ingest.run(ingest_stop))
            waiters.append(ingest_task)
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        ingest_stop.set()
        for w in waiters:
            if w is not ingest_task:
                w.cancel()
        if ingest_task is None:
            return 0
        try:
            await ingest_task
        except StoreUnusableError as exc:
            self._log(f"historian: exiting with status {EXIT_STORE_UNUSABLE}: {exc}")
            return EXIT_STORE_UNUSABLE
        return 0

    def _write_ready(self) -> None:
        path = self.cfg.ready_file
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        # atomic, so a reader polling for the file never sees half of it
        FileSystem().write_atomic(str(path), json.dumps(self.ready).encode())
