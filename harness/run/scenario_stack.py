"""The services one scenario run needs, with the fault hooks the scenario schedule drives.

    nats-server <- FaultProxy "collector" <- load generator / collectors (in the runner)
    nats-server <- FaultProxy "historian" <- historian server (twinbench historian serve)

Proxies are created only for the links a scenario cuts, because every byte
through an asyncio proxy costs the runner's CPU. The historian is a real OS
process (``python -m historian.server``, what ``twinbench historian serve``
runs) so SIGKILL is a real crash; its recovery time is measured from restart to
its ``READY`` line (engine recovery + WAL replay + subscribe).

Durability is a choice of the stack and every report states it
(:meth:`ScenarioStack.durability_note`): the historian's ``--durability``
(``fsync``, the default: a JetStream ack only after the WAL fsync; ``os``: acked
once written to the OS) and nats-server's JetStream ``sync_interval`` (see
:class:`harness.services.NatsServer`; default: the server's own 2 minutes).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import nats

from harness.faults import FaultProxy
from harness.faults.cluster import ClusterFailover, ProxyGroup
from harness.run.secure_profile import SecureProfile
from harness.services import ManagedProcess, NatsCluster, NatsServer, S3Server
from harness.services.edge import EdgeBus
from harness.services.lifecycle import ProcessLifecycle
from harness.services.nats import DEFAULT_SYNC_INTERVAL, describe_sync_interval
from historian.bus.cluster import create_stream_if_missing
from historian.bus.options import BusOptions
from historian.tier.config import TierConfig

READY_LINE = "READY\n"
DEFAULT_DURABILITY = "fsync"


class IngestProcess(ProcessLifecycle):
    """The historian server process with its ingest workers (name kept for the runner)."""

    def __init__(
        self,
        data_dir: Path,
        nats_url: str,
        log_path: Path,
        *,
        durability: str = DEFAULT_DURABILITY,
        notify_url: str,
        extra_args: list[str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.nats_url = nats_url
        self.log_path = log_path
        self.durability = durability
        argv = [
            sys.executable,
            "-m",
            "historian.server",
            str(data_dir),
            "--nats",
            nats_url,
            "--durability",
            durability,
        ]
        if notify_url != nats_url:
            argv += ["--notify-nats", notify_url]
        argv += extra_args or []
        self._process = ManagedProcess("historian-serve", argv, log_path, grace_s=30.0)
        self.restarts = 0

    @property
    def process(self) -> ManagedProcess:
        assert self._process is not None  # made in __init__
        return self._process

    def start(self, timeout_s: float = 60.0) -> float:
        """Start (or restart) and wait for READY; returns the seconds it took."""
        t0 = time.monotonic()
        self.process.start()
        self.process.wait_for_log(READY_LINE, timeout_s)
        return time.monotonic() - t0


S3_NICE = 10
"""The embedded S3 server runs at this lower priority (it stands in for a remote store)."""


class ColdTierService:
    """An embedded S3 server and the ``--tier`` file the historian exports with.

    The bucket width is half the hot window (at least 2 s), so the first buckets
    go cold a hot window into the run, and the server checks every quarter window
    (at least every 5 s: a round flushes the active memtable when it holds data older
    than the cutoff, which costs the ingest latency; measured in the short stress run,
    rounds every second lifted the nominal p99 by ~30 ms). Buckets are not rewritten
    at L2 before they leave (``--l2-settle-buckets``), and the S3 server runs at a
    lower priority: it stands in for a remote store whose CPU is not the historian's.
    """

    BUCKET = "twinbench-cold"

    def __init__(self, work_dir: Path, hot_window_s: float) -> None:
        self.hot_window_s = hot_window_s
        self.config_path = work_dir / "tier.toml"
        self.s3 = S3Server(work_dir / "s3")

    def start(self) -> list[str]:
        """Start S3, write the tier file; return the historian's extra arguments."""
        self.s3.start()
        self.s3.create_bucket(self.BUCKET)
        hot = max(int(self.hot_window_s), 2)
        self.config_path.write_text(
            f"""[s3]
endpoint = "{self.s3.endpoint}"
bucket = "{self.BUCKET}"
access_key = "{self.s3.access_key}"
secret_key = "{self.s3.secret_key}"
region = "{self.s3.region}"

[tier]
prefix = "scenario"
hot_window = "{hot}s"
export_every = "{max(hot // 4, 5)}s"
"""
        )
        # moto stands in for a remote object store: its CPU is not the historian's to pay
        os.setpriority(os.PRIO_PROCESS, self.s3.pid, S3_NICE)
        bucket = max(hot // 2, 2)
        # a bucket leaves a hot window after it ends: an L2 rewrite before that is wasted
        # work (in the stress profile it cost more CPU than the export itself), also when
        # the export lags; so buckets settle after an hour, as with the default 1 h buckets
        settle = max(-(-hot // bucket) + 2, 3_600 // bucket)
        return [
            "--tier", str(self.config_path), "--bucket", f"{bucket}s",
            "--l2-settle-buckets", str(settle),
        ]  # fmt: skip

    def config(self) -> TierConfig:
        return TierConfig.load(self.config_path)

    def close(self) -> None:
        self.s3.close()


class ScenarioStack:
    """nats-server + optional fault proxies + the historian server, in one work directory."""

    def __init__(
        self,
        work_dir: Path,
        *,
        proxy_collector: bool,
        proxy_historian: bool,
        durability: str = DEFAULT_DURABILITY,
        nats_sync_interval: str | None = DEFAULT_SYNC_INTERVAL,
        tier_hot_window_s: float | None = None,
        cluster_size: int = 1,
        edge: bool = False,
        secure: SecureProfile | None = None,
        historian_args: list[str] | None = None,
    ) -> None:
        self.work_dir = work_dir
        self.historian_args = historian_args or []  # e.g. --http (harness.run.api_load)
        # secure: TLS + NKEY users + store cipher on nats-server, streams made by the
        # operator identity, the historian bound as the ingest identity (harness.run.secure_profile)
        self.secure = secure
        if secure is not None and (cluster_size > 1 or edge):
            raise ValueError("--secure runs on a single nats-server (not --cluster 3 or edge)")
        self.tier = ColdTierService(work_dir, tier_hot_window_s) if tier_hot_window_s else None
        self.durability = durability
        # cluster: nodes[0] stands in for "the" server of the single-node faults (kill-nats,
        # pause-nats); the failover fault picks its victim by role (harness.faults.cluster)
        self.cluster: NatsCluster | None = None
        self.failover: ClusterFailover | None = None
        if cluster_size > 1:
            self.cluster = NatsCluster(
                work_dir / "nats", size=cluster_size, sync_interval=nats_sync_interval
            )
            self.nats = self.cluster.nodes[0]
        else:
            conf = secure.server_kwargs(work_dir / "nats") if secure is not None else {}
            self.nats = NatsServer(
                work_dir / "nats",
                sync_interval=nats_sync_interval,
                extra_config=conf.get("extra_config", ""),
                jetstream_config=conf.get("jetstream_config", ""),
            )
        self.bus = BusOptions(replicas=min(cluster_size, 3))
        # edge: collectors dial a leaf in its own JetStream domain, the hub sources it;
        # self.nats is the hub (the historian's server, and "the" server of kill-nats)
        self.edge: EdgeBus | None = None
        if edge:
            self.edge = EdgeBus(work_dir / "nats", bus=self.bus, sync_interval=nats_sync_interval)
            self.nats = self.edge.hub
        self._want_proxy = {"collector": proxy_collector, "historian": proxy_historian}
        self.proxies: dict[str, FaultProxy | ProxyGroup] = {}
        self.ingest: IngestProcess | None = None

    def durability_note(self) -> str:
        """One sentence for the report: what an ack meant in this run."""
        ack = {
            "fsync": "historian acks after the WAL fsync (survives power loss)",
            "os": "historian acks once written to the OS, fsync every 5 ms "
            "(survives SIGKILL, not power loss)",
        }.get(self.durability, self.durability)
        note = (
            f"durability: {self.durability} ({ack}); nats-server sync_interval: "
            f"{describe_sync_interval(self.nats.sync_interval)}"
        )
        if self.cluster is not None:
            note += (
                f"; JetStream on a {len(self.cluster.nodes)}-node cluster, stream "
                f"R{self.bus.replicas} (an ack = stored on a quorum of replicas; "
                "docs/scaling.md, R3 placement)"
            )
        if self.edge is not None:
            note += (
                f"; edge: collectors publish to a leaf nats-server (JetStream domain "
                f"{self.edge.domain!r}, acks from its own stream), the hub's stream sources it "
                "over a leafnode link (docs/scaling.md, Edge leaf nodes)"
            )
        return note

    @property
    def nats_urls(self) -> list[str]:
        """Every node's direct URL (one on a single node)."""
        return self.cluster.urls if self.cluster is not None else [self.nats.url]

    def nats_pids(self) -> dict[str, int]:
        """Sampler names -> PIDs: ``nats-server`` (nodes[0]), then ``nats-n1``, ..."""
        if self.cluster is None:
            return {"nats-server": self.nats.pid, **self._leaf_pids()}
        out = {"nats-server": self.nats.pid}
        out.update({f"nats-{n.name}": n.pid for n in self.cluster.nodes[1:] if n.running})
        return out

    def _leaf_pids(self) -> dict[str, int]:
        if self.edge is None or not self.edge.leaf.running:
            return {}
        return {"nats-leaf": self.edge.leaf.pid}

    def sampler_name(self, node: str) -> str:
        """The :meth:`nats_pids` name of cluster node ``node``."""
        return "nats-server" if node == self.nats.name else f"nats-{node}"

    async def start(self) -> None:
        extra: list[str] = list(self.historian_args)
        if self.tier is not None:
            extra += await asyncio.to_thread(self.tier.start)
        if self.cluster is not None:
            await asyncio.to_thread(self.cluster.start)
            # the stack creates the R3 stream (so its placement is the deployment's, not
            # whichever client comes first); the historian gets --replicas to match
            nc = await nats.connect(servers=self.cluster.urls, max_reconnect_attempts=-1)
            try:
                await create_stream_if_missing(nc.jetstream(), self.bus)
            finally:
                await nc.close()
            self.failover = ClusterFailover(self.cluster, self.bus.stream)
            extra += ["--replicas", str(self.bus.replicas)]
        elif self.edge is not None:
            await self.edge.start_async()
        else:
            self.nats.start()
        if self.secure is not None:
            await self.secure.provision(self.nats_urls, self.bus)
            extra += self.secure.historian_args()
        for name, wanted in self._want_proxy.items():
            if wanted and self.cluster is not None:
                ports = [n.port for n in self.cluster.nodes]
                self.proxies[name] = await ProxyGroup.start_for(ports)
            elif wanted:
                # on an edge run the collector's link goes to its leaf
                port = self.edge.leaf.port if self.edge and name == "collector" else self.nats.port
                self.proxies[name] = await FaultProxy("127.0.0.1", port).start()
        self.ingest = IngestProcess(
            self.work_dir / "historian",
            self.url_for("historian"),
            self.work_dir / "logs" / "historian.log",
            durability=self.durability,
            notify_url=",".join(self.nats_urls),
            extra_args=extra,
        )
        # in a thread: the proxies run on this event loop and must keep forwarding
        await asyncio.to_thread(self.ingest.start)

    def url_for(self, side: str) -> str:
        """The NATS URL a component on ``side`` (collector | historian) should dial."""
        proxy = self.proxies.get(side)
        if proxy is None and self.edge is not None and side == "collector":
            return self.edge.leaf_url
        if proxy is None:
            return ",".join(self.nats_urls)
        return ",".join(f"nats://{a}" for a in proxy.address.split(","))

    async def cut(self, side: str) -> None:
        if side == "uplink":  # the edge leaf's leafnode link to the hub
            assert self.edge is not None
            return await self.edge.cut()
        await self.proxies[side].set_mode("blackhole")

    async def heal(self, side: str) -> None:
        if side == "uplink":
            assert self.edge is not None
            return await self.edge.heal()
        # reset first: blackholed connections are dead; clients must reconnect cleanly
        await self.proxies[side].set_mode("reset")
        await self.proxies[side].set_mode("pass")

    async def close(self) -> None:
        if self.ingest is not None:
            await asyncio.to_thread(self.ingest.stop)
        for proxy in self.proxies.values():
            await proxy.stop()
        if self.failover is not None:
            await self.failover.close()
        if self.cluster is not None:
            self.cluster.close()
        elif self.edge is not None:
            await self.edge.close_async()
        else:
            self.nats.close()
        if self.tier is not None:
            self.tier.close()
