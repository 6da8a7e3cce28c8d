"""Partition assignment table: which historian process owns which stream partition.

The table is a JetStream KV bucket (default ``twinbench-partitions``), so it lives
on the bus every process already uses, replicated like the stream, and nothing
new has to be run. Two kinds of keys (values are JSON):

- ``members``: ``{node: {"http": URL | null, "t": unix_ns}, ...}``, the heartbeat
  each process writes every :data:`HEARTBEAT_S` (compare-and-set on the key, so
  concurrent beats never drop one another); a member whose heartbeat is older
  than :data:`MEMBER_TIMEOUT_S` is not counted. Removed at a clean stop. One key,
  so a tick reads the whole table with ``partitions + 1`` gets.
- ``p<N>``: ``{"owner": node, "state": "owned" | "handover", "to": node | null,
  "holders": [node, ...]}``. ``holders`` lists every node that ever owned the
  partition, oldest first: their stores hold the partition's series for the time
  each owned it, so a query merges all of them (:mod:`historian.api.routing`).

Target assignment (:func:`target_owner`): live members sorted by name,
partition ``p`` goes to ``members[p % len(members)]``. Every process computes it
from the same table, so no coordinator is needed; each process only ever gives
away partitions it owns and only takes partitions that are unowned, handed to
it, or owned by a member that stopped heartbeating. Every write is a
compare-and-set on the key's revision, so two processes never both win.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

DEFAULT_BUCKET = "twinbench-partitions"
MEMBERS_KEY = "members"
HEARTBEAT_S = 1.0
MEMBER_TIMEOUT_S = 10.0
"""A member silent this long is gone: its partitions may be taken over."""

State = Literal["owned", "handover"]


@dataclass(frozen=True)
class Member:
    node: str
    http: str | None
    t_ns: int

    def alive(self, now_ns: int) -> bool:
        return now_ns - self.t_ns <= MEMBER_TIMEOUT_S * 1e9


@dataclass(frozen=True)
class Ownership:
    """One ``p<N>`` entry and the KV revision it was read at (for compare-and-set)."""

    partition: int
    owner: str
    state: State = "owned"
    to: str | None = None
    holders: tuple[str, ...] = ()
    revision: int = 0

    def encode(self) -> bytes:
        value: dict[str, Any] = {
            "owner": self.owner,
            "state": self.state,
            "to": self.to,
            "holders": list(self.holders),
        }
        return json.dumps(value).encode()

    @staticmethod
    def decode(partition: int, raw: bytes, revision: int) -> Ownership:
        v = json.loads(raw)
        return Ownership(
            partition, v["owner"], v["state"], v.get("to"), tuple(v.get("holders", ())), revision
        )

    def handed_to(self, node: str) -> Ownership:
        """The entry once the handover to ``node`` is complete."""
        holders = self.holders if node in self.holders else (*self.holders, node)
        return Ownership(self.partition, node, "owned", None, holders)


@dataclass
class Table:
    """A snapshot of the bucket: members and partition entries."""

    members: dict[str, Member] = field(default_factory=dict)
    partitions: dict[int, Ownership] = field(default_factory=dict)

    def live_members(self, now_ns: int | None = None) -> list[str]:
        now = time.time_ns() if now_ns is None else now_ns
        return sorted(m.node for m in self.members.values() if m.alive(now))

    def holders_urls(self) -> dict[str, str | None]:
        """Node -> HTTP base URL of every node holding some partition's data."""
        nodes = {h for o in self.partitions.values() for h in o.holders}
        return {n: (self.members[n].http if n in self.members else None) for n in sorted(nodes)}


def target_owner(partition: int, members: list[str]) -> str | None:
    """Round-robin over the live members sorted by name (None: no member)."""
    if not members:
        return None
    return sorted(members)[partition % len(members)]


def partition_key(partition: int) -> str:
    return f"p{partition}"


class AssignmentTable:
    """Reads and compare-and-set writes of the bucket (see the module docstring)."""

    def __init__(self, kv: KeyValue, partitions: int) -> None:
        self.kv = kv
        self.partitions = partitions

    @staticmethod
    async def open(
        js: JetStreamContext, partitions: int, bucket: str = DEFAULT_BUCKET, replicas: int = 1
    ) -> AssignmentTable:
        try:
            kv = await js.key_value(bucket)
        except BucketNotFoundError:
            kv = await js.create_key_value(
                KeyValueConfig(bucket=bucket, history=8, replicas=replicas)
            )
        return AssignmentTable(kv, partitions)

    async def read(self) -> Table:
        table = Table()
        for p in range(self.partitions):
            try:
                e = await self.kv.get(partition_key(p))
            except KeyNotFoundError:
                continue
            if e.value:
                table.partitions[p] = Ownership.decode(p, e.value, e.revision or 0)
        members, _ = await self._members()
        for node, v in members.items():
            table.members[node] = Member(node, v.get("http"), int(v["t"]))
        return table

    async def _members(self) -> tuple[dict[str, dict[str, Any]], int]:
        try:
            e = await self.kv.get(MEMBERS_KEY)
        except KeyNotFoundError:
            return {}, 0
        return (json.loads(e.value) if e.value else {}), e.revision or 0

    async def _change_members(self, change: Callable[[dict[str, dict[str, Any]]], None]) -> None:
        """Read-modify-compare-and-set of the members key, retried on a concurrent write."""
        for _ in range(50):
            members, rev = await self._members()
            change(members)
            raw = json.dumps(members, sort_keys=True).encode()
            try:
                if rev == 0:
                    await self.kv.create(MEMBERS_KEY, raw)
                else:
                    await self.kv.update(MEMBERS_KEY, raw, rev)
                return
            except KeyWrongLastSequenceError:  # another member wrote first: read again
                pass
            await asyncio.sleep(0.01)
        raise RuntimeError("the members key kept changing under 50 heartbeats")

    async def heartbeat(self, node: str, http: str | None) -> None:
        beat = {"http": http, "t": time.time_ns()}
        await self._change_members(lambda m: m.__setitem__(node, beat))

    async def leave(self, node: str) -> None:
        def drop(members: dict[str, dict[str, Any]]) -> None:
            members.pop(node, None)

        await self._change_members(drop)

    async def claim(self, partition: int, node: str) -> bool:
        """Take an unowned partition; False if someone else wrote it first."""
        entry = Ownership(partition, node, "owned", None, (node,))
        try:
            await self.kv.create(partition_key(partition), entry.encode())
        except KeyWrongLastSequenceError:
            return False
        except Exception as exc:  # a deleted key answers "wrong last sequence" by another name
            if "wrong last sequence" not in str(exc).lower():
                raise
            return False
        return True

    async def replace(self, old: Ownership, new: Ownership) -> Ownership | None:
        """Compare-and-set ``old`` -> ``new``; the written entry, or None if ``old`` was stale."""
        try:
            rev = await self.kv.update(partition_key(old.partition), new.encode(), old.revision)
        except KeyWrongLastSequenceError:
            return None
        return Ownership(new.partition, new.owner, new.state, new.to, new.holders, rev)
