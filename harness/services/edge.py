"""An edge site on loopback: a leaf nats-server in its own JetStream domain, linked to a hub.

    collectors -> leaf nats-server (domain "edge", stream TWINBENCH)
                    |  leafnode link (nats-leaf://), optionally through a FaultProxy
                    v
                  hub nats-server (domain "hub", stream TWINBENCH sourcing the leaf's) -> historian

The hub listens for leafnodes on a port picked up front (the leaf's remote must
name it before either starts) and pinned, like the cluster route ports. The
leaf's remote goes through ``link`` (a :class:`FaultProxy`) when asked, so a
scenario can cut the site's uplink while the collector->leaf path stays up.

The remote denies the batch subjects in both directions: without that, the
hub's stream would *also* capture every batch a collector publishes to the leaf
(subject interest crosses leafnode links) and answer with a second ack, and a
leaf would capture the hub's direct publishes. With it, batches reach the hub
only through JetStream sourcing (``historian.bus.edge``), which resumes from
the last sourced sequence after a cut. JetStream API traffic crosses on the
domain-prefixed subjects (``$JS.edge.API.>``) and the sourcing consumer's
delivery subject, which the deny list leaves alone.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path
from typing import Self

import nats

from harness.services.lifecycle import OwnedDirService
from harness.services.nats import DEFAULT_SYNC_INTERVAL, NatsServer
from harness.services.net import LOOPBACK, free_port, http_get_json
from harness.services.process import ServiceStartError, log_tail
from harness.services.proxy import FaultProxy
from historian.bus.edge import (
    DEFAULT_EDGE_DOMAIN,
    ensure_leaf_streams,
    ensure_sourced_stream,
    restart_sources,
    source_lag,
)
from historian.bus.options import BusOptions

__all__ = ["HUB_DOMAIN", "LEAF_RECONNECT_S", "EdgeBus"]

HUB_DOMAIN = "hub"
LEAF_RECONNECT_S = 1
"""Seconds between the leaf's attempts to re-open its link (nats-server's default: 1 s)."""
LINK_TIMEOUT_S = 30.0


class EdgeBus(OwnedDirService):
    """A hub nats-server and one edge leaf nats-server joined by a leafnode link.

    ``start()`` (async: the link proxy runs on the caller's event loop) starts the
    hub, the proxy, the leaf, waits for the link, then creates the leaf's streams and
    the hub's sourcing batch stream. Collectors dial :attr:`leaf_url`, the historian
    :attr:`hub_url`. ``cut()`` blackholes the link (both servers keep a dead TCP
    connection, as on a real WAN cut), ``heal()`` resets it (the leaf reconnects
    within :data:`LEAF_RECONNECT_S`) and passes traffic again.
    """

    def __init__(
        self,
        base_dir: Path | None = None,
        *,
        bus: BusOptions | None = None,
        domain: str = DEFAULT_EDGE_DOMAIN,
        proxy_link: bool = True,
        sync_interval: str | None = DEFAULT_SYNC_INTERVAL,
        leaf_max_bytes: int | None = None,
    ) -> None:
        self._use_dir(base_dir, "twinbench-edge-")
        self.bus = bus or BusOptions()
        self.domain = domain
        self.leaf_max_bytes = leaf_max_bytes
        self._proxy_link = proxy_link
        self.leafnode_port = free_port()
        self.hub = NatsServer(
            self.base_dir / "hub",
            name="hub",
            sync_interval=sync_interval,
            jetstream_config=f"domain: {HUB_DOMAIN}",
            extra_config=f"leafnodes {{ listen: {LOOPBACK}:{self.leafnode_port} }}",
        )
        self.leaf = NatsServer(
            self.base_dir / f"leaf-{domain}",
            name=f"leaf-{domain}",
            sync_interval=sync_interval,
            jetstream_config=f"domain: {domain}",
        )
        self.link: FaultProxy | None = None
        self.healed_at_ns = 0
        """Wall-clock ns when the last :meth:`heal` began (drains are timed from it)."""

    # -- endpoints -------------------------------------------------------------
    @property
    def leaf_url(self) -> str:
        return self.leaf.url

    @property
    def hub_url(self) -> str:
        return self.hub.url

    @property
    def pids(self) -> dict[str, int]:
        return {"nats-hub": self.hub.pid, f"nats-leaf-{self.domain}": self.leaf.pid}

    def _remote_config(self, port: int) -> str:
        deny = f'["{self.bus.all_batch_subjects()}"]'
        return (
            f"leafnodes {{ reconnect: {LEAF_RECONNECT_S}, remotes: [ "
            f'{{ url: "nats-leaf://{LOOPBACK}:{port}", deny_exports: {deny}, '
            f"deny_imports: {deny} }} ] }}"
        )

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> Self:
        raise TypeError("EdgeBus.start is async: `await edge.start_async()`")

    async def start_async(self) -> Self:
        try:
            await asyncio.to_thread(self.hub.start)
            port = self.leafnode_port
            if self._proxy_link:
                self.link = await FaultProxy(LOOPBACK, self.leafnode_port).start()
                port = self.link.port
            self.leaf.extra_config = self._remote_config(port)
            await asyncio.to_thread(self.leaf.start)
            await self.wait_linked()
            await self.ensure_streams()
        except BaseException:
            await self.stop_async()
            raise
        return self

    async def ensure_streams(self) -> None:
        """The leaf's batch + dead-letter streams, then the hub's sourcing batch stream."""
        leaf_bus = self.bus
        if self.leaf_max_bytes is not None:
            leaf_bus = replace(self.bus, max_bytes=self.leaf_max_bytes)
        nc = await nats.connect(self.leaf_url)
        try:
            await ensure_leaf_streams(nc.jetstream(), leaf_bus)
        finally:
            await nc.close()
        nc = await nats.connect(self.hub_url)
        try:
            await ensure_sourced_stream(nc.jetstream(), self.bus, [self.domain])
        finally:
            await nc.close()

    def _leaf_connections(self) -> set[tuple[str, int]]:
        """The leafnode connections the hub lists (its /leafz page): (ip, port) each."""
        doc = http_get_json(f"{self.hub.monitor_url}/leafz")
        leafs = doc.get("leafs") if isinstance(doc, dict) else None
        return {(str(x.get("ip")), int(x.get("port") or 0)) for x in leafs or []}

    def linked(self, exclude: set[tuple[str, int]] | None = None) -> bool:
        """The hub has the leaf connected (a connection not in ``exclude``)."""
        return bool(self._leaf_connections() - (exclude or set()))

    async def wait_linked(
        self, timeout_s: float = LINK_TIMEOUT_S, *, exclude: set[tuple[str, int]] | None = None
    ) -> None:
        """Until the hub lists a leaf connection (one not in ``exclude``: a new one)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if await asyncio.to_thread(self.linked, exclude):
                return
            await asyncio.sleep(0.05)
        raise ServiceStartError(
            f"leaf {self.leaf.name} did not link to the hub within {timeout_s:g} s:\n"
            f"--- {self.leaf.log_path}:\n{log_tail(self.leaf.log_path, 10)}\n"
            f"--- {self.hub.log_path}:\n{log_tail(self.hub.log_path, 10)}"
        )

    async def restart_sourcing(self) -> None:
        """Make the hub source the leaf again at once (after the leaf itself restarted, the
        hub's retry backoff alone would wait tens of seconds; see historian.bus.edge)."""
        nc = await nats.connect(self.hub_url)
        try:
            await restart_sources(nc.jetstream(), self.bus)
        finally:
            await nc.close()

    async def source_lag(self) -> int:
        """Messages the hub still has to source from the leaf (the hub's last known figure)."""
        nc = await nats.connect(self.hub_url)
        try:
            return await source_lag(nc.jetstream(), self.bus.stream)
        finally:
            await nc.close()

    # -- the link fault --------------------------------------------------------
    def _require_link(self) -> FaultProxy:
        if self.link is None:
            raise RuntimeError("this EdgeBus was built with proxy_link=False: no link to cut")
        return self.link

    async def cut(self) -> None:
        await self._require_link().set_mode("blackhole")

    async def heal(self, *, restart_sourcing: bool = False) -> None:
        """Reset the dead connection (the leaf reconnects within :data:`LEAF_RECONNECT_S`)
        and pass traffic again. With ``restart_sourcing`` (what a site watchdog could do
        on a leafnode reconnect) also re-add the hub's sources once the leaf is back: a
        source whose in-flight messages died in the cut is otherwise resumed only by
        nats-server's stall detection, up to 20-30 s later. Off by default: the drains
        measured with it were slower (on a loaded machine, not resolved; docs/scaling.md)."""
        link = self._require_link()
        self.healed_at_ns = time.time_ns()
        before = await asyncio.to_thread(self._leaf_connections)
        await link.set_mode("reset")
        await link.set_mode("pass")
        if restart_sourcing:
            await self.wait_linked(exclude=before)
            await self.restart_sourcing()

    def stop(self) -> None:
        self.leaf.stop()
        self.hub.stop()

    async def stop_async(self) -> None:
        if self.link is not None:
            await self.link.stop()
        await asyncio.to_thread(self.stop)

    async def close_async(self) -> None:
        await self.stop_async()
        await asyncio.to_thread(self.close)
