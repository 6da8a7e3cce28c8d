"""The ``failover`` fault: take one node of the JetStream cluster down and bring it back.

``FaultEvent(at_s, duration_s, "failover", target)``; ``target`` picks the node and
how it goes down:

| target          | victim                                  | how                    |
|-----------------|-----------------------------------------|------------------------|
| ``leader``      | the batch stream's current leader       | SIGKILL by PID (crash) |
| ``leader-stop`` | the stream leader                       | SIGTERM (clean stop)   |
| ``follower``    | a node that is not the stream leader    | SIGKILL by PID         |

The leader is asked for, not assumed: ``stream_info().cluster.leader`` right
before the strike. A strike waits until the node of an earlier failover is back
(two nodes down at once is a lost quorum, not a failover). After ``duration_s``
the node restarts on its own port and store and the fault waits until it is
healthy and the cluster agrees on a meta leader again (the restart time is
recorded).

What it costs the publisher is measured afterwards from the run's own batch
records (:func:`measure_failover`): the **election gap**, from the strike to the
first acknowledgement of a batch published after it, and the **max ack stall**,
the longest publish->ack time of a batch sent while the fault lasted (+ settle).

A SIGKILLed leader is not replaced until a follower's Raft election timeout
fires: nats-server draws it from 4-9 s (``minElectionTimeoutDefault`` ..
``maxElectionTimeoutDefault`` in ``server/raft.go``, constants, not
configurable), so that gap is 4-10 s whatever the client does. A clean stop
hands leadership over at once, and a follower's death does not interrupt
the stream at all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import nats
from nats.aio.client import Client as NATS

from harness.services import NatsCluster, NatsServer
from harness.services.proxy import FaultProxy
from harness.services.proxy_modes import FaultMode
from historian.bus.cluster import ELECTION_ERRORS, stream_leader
from historian.model import NS_PER_SECOND as NS

__all__ = [
    "FAILOVER_TARGETS",
    "ClusterFailover",
    "FailoverCost",
    "FailoverRecord",
    "ProxyGroup",
    "measure_failover",
]

FAILOVER_TARGETS = ("leader", "leader-stop", "follower")
LEADER_LOOKUP_S = 30.0  # a cluster still settling from an earlier fault answers late


@dataclass
class FailoverRecord:
    """One failover as injected: who went down, how, and who leads afterwards."""

    victim: str
    role: str
    """``leader`` or ``follower`` of the batch stream at the strike."""
    signal: str
    leader_before: str
    struck_wall_ns: int
    leader_after: str = ""
    node_restart_s: float = 0.0

    @property
    def leader_crash(self) -> bool:
        """The case Raft's election timeout governs: the leader died without handing over."""
        return self.role == "leader" and self.signal == "SIGKILL"

    def as_entry(self) -> dict[str, object]:
        out: dict[str, object] = asdict(self)
        out.pop("struck_wall_ns")
        return out


class ClusterFailover:
    """Strikes and revives nodes of ``cluster``; asks ``stream``'s leader through ``urls``."""

    def __init__(self, cluster: NatsCluster, stream: str) -> None:
        self.cluster = cluster
        self.stream = stream
        self._nc: NATS | None = None
        # set while every node is up: a strike waits for the last revive, so two failovers
        # never overlap into a lost quorum (that is another fault than a failover)
        self._whole = asyncio.Event()
        self._whole.set()

    async def _js_leader(self) -> str:
        """The stream leader's node name, retried while the cluster elects one."""
        if self._nc is None:
            self._nc = await nats.connect(
                servers=self.cluster.urls, max_reconnect_attempts=-1, reconnect_time_wait=0.2
            )
        deadline = time.monotonic() + LEADER_LOOKUP_S
        while True:
            try:
                leader = await stream_leader(self._nc.jetstream(timeout=2.0), self.stream)
                if leader:
                    return leader
            except ELECTION_ERRORS:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"stream {self.stream!r} has no leader after the timeout")
            await asyncio.sleep(0.1)

    def _node(self, name: str) -> NatsServer:
        return next(n for n in self.cluster.nodes if n.name == name)

    async def strike(self, target: str) -> FailoverRecord:
        """Take the node ``target`` names down now (see the module table)."""
        if target not in FAILOVER_TARGETS:
            raise ValueError(f"failover target {target!r}; known: {', '.join(FAILOVER_TARGETS)}")
        await asyncio.wait_for(self._whole.wait(), LEADER_LOOKUP_S * 2)
        self._whole.clear()
        leader = await self._js_leader()
        if target == "follower":
            victim = next(n for n in self.cluster.nodes if n.name != leader and n.running)
        else:
            victim = self._node(leader)
        clean = target == "leader-stop"
        record = FailoverRecord(
            victim=victim.name,
            role="follower" if target == "follower" else "leader",
            signal="SIGTERM" if clean else "SIGKILL",
            leader_before=leader,
            struck_wall_ns=time.time_ns(),
        )
        if clean:
            await asyncio.to_thread(victim.stop)  # the leader hands over on its way out
        else:
            victim.kill()  # SIGKILL by PID, no shutdown path runs
        return record

    async def revive(self, record: FailoverRecord) -> int:
        """Restart the struck node, wait for health and a meta leader; returns its new PID."""
        node = self._node(record.victim)
        t0 = time.monotonic()
        await asyncio.to_thread(node.restart)
        await asyncio.to_thread(self.cluster.wait_meta_leader)
        record.node_restart_s = time.monotonic() - t0
        record.leader_after = await self._js_leader()
        self._whole.set()
        return node.pid

    async def close(self) -> None:
        if self._nc is not None:
            await self._nc.close()
            self._nc = None


@dataclass(frozen=True)
class FailoverCost:
    election_gap_s: float | None
    """Strike -> first ack of a batch published after it (None: none was ever acked)."""
    max_ack_stall_s: float
    """Longest publish->ack of a batch sent from the strike to the window's end."""
    unacked_batches: int
    """Batches sent in the window that were never acknowledged."""


def measure_failover(
    struck_wall_ns: int, window_end_wall_ns: int, batches: Iterable[tuple[int, int]]
) -> FailoverCost:
    """The publisher's view of one failover, from ``(intended_wall_ns, acked_ns)`` pairs
    (``acked_ns`` 0 = never acked); times are the batches' *intended* send times, so a
    sender held back by the fault is not let off (no coordinated omission)."""
    first_ack: int | None = None
    stall_ns = 0
    unacked = 0
    for intended, acked in batches:
        if intended < struck_wall_ns:
            continue
        if acked:
            first_ack = acked if first_ack is None else min(first_ack, acked)
        if intended <= window_end_wall_ns:
            if acked:
                stall_ns = max(stall_ns, acked - intended)
            else:
                unacked += 1
    gap = None if first_ack is None else max(0.0, (first_ack - struck_wall_ns) / NS)
    return FailoverCost(gap, stall_ns / NS, unacked)


class ProxyGroup:
    """One :class:`FaultProxy` in front of each cluster node, switched together: a link
    cut on a cluster cuts the component off from every node (it would fail over to a
    node it can still reach otherwise). ``address`` lists them comma-separated, the
    way every twinbench component takes a cluster's URLs."""

    def __init__(self, proxies: list[FaultProxy]) -> None:
        self.proxies = proxies

    @classmethod
    async def start_for(cls, ports: Iterable[int], host: str = "127.0.0.1") -> ProxyGroup:
        return cls([await FaultProxy(host, port).start() for port in ports])

    @property
    def address(self) -> str:
        return ",".join(p.address for p in self.proxies)

    async def set_mode(self, mode: FaultMode | str) -> None:
        for p in self.proxies:
            await p.set_mode(mode)

    async def stop(self) -> None:
        for p in self.proxies:
            await p.stop()


def score_failovers(
    failovers: Iterable[tuple[dict[str, object], FailoverRecord]],
    batches: Iterable[tuple[int, int]],
    *,
    origin_wall_ns: int,
    settle_s: float,
) -> dict[str, tuple[float, str]]:
    """Measure every failover (filling its fault-log entry) and the run's failover metrics.

    ``failover.leader_crash_gap_s`` is the worst gap after a SIGKILLed leader (Raft's
    election timeout: 4-9 s), ``failover.gap_s`` the worst after any other failover (a
    follower killed, the leader stopped cleanly); a kind that did not happen is left out.
    """
    pairs = list(batches)
    crash_gaps: list[float] = []
    other_gaps: list[float] = []
    stalls: list[float] = []
    unacked = 0
    items = sorted(failovers, key=lambda item: item[1].struck_wall_ns)
    for k, (entry, record) in enumerate(items):
        end_s = float(str(entry.get("end_s", 0.0)))
        window_end = origin_wall_ns + int((end_s + settle_s) * NS)
        if k + 1 < len(items):  # the next failover's stall is its own
            window_end = min(window_end, items[k + 1][1].struck_wall_ns)
        cost = measure_failover(record.struck_wall_ns, window_end, pairs)
        entry.update(
            election_gap_s=cost.election_gap_s,
            max_ack_stall_s=cost.max_ack_stall_s,
            unacked_batches=cost.unacked_batches,
        )
        stalls.append(cost.max_ack_stall_s)
        unacked += cost.unacked_batches
        if cost.election_gap_s is not None:
            (crash_gaps if record.leader_crash else other_gaps).append(cost.election_gap_s)
    out: dict[str, tuple[float, str]] = {"failover.count": (float(len(items)), "faults")}
    if crash_gaps:
        out["failover.leader_crash_gap_s"] = (max(crash_gaps), "s")
    if other_gaps:
        out["failover.gap_s"] = (max(other_gaps), "s")
    if stalls:
        out["failover.max_ack_stall_s"] = (max(stalls), "s")
        out["failover.unacked_batches"] = (float(unacked), "batches")
    return out
