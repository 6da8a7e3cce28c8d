"""Collector connections the server manages at runtime (``/api/v1/connections``).

The SCADA design's ``AddConnection`` / ``RemoveConnection`` / ``HealthCheck``: the
:class:`ConnectionManager` starts one collector process per connection
(``python -m historian.collect``, supervised by
:class:`~historian.server.managed_collector.ManagedCollector`), each with its own
directory ``DATA_DIR/connections/<id>/`` (spool, tag list, log, ready and pid
files) and a metrics page on 127.0.0.1 (port picked by the collector). It runs
only when the server consumes the bus (``--nats``): collectors publish there.

The connection list is persisted atomically in ``DATA_DIR/connections.json``
(``historian/docs/format/connections.md``) on every change and restored when the
server starts; stopping the server stops the collectors (each publishes what it
holds, or leaves it in its spool for the next start) and keeps the list.

On a secured bus (the server's own ``--nats-nkey``) each connection's collector
connects as an identity of its own from the pool (``--managed-identities``,
:mod:`historian.server.managed_identities`), never as the server: it may publish only
its own partition subject. The identity is persisted with the connection; without a
pool, or with the pool used up, ``POST`` answers 409.

Removal never loses data a collector took from its device: the process gets
SIGTERM with ``--drain-on-stop`` (it stops reading, publishes what is pending and
drains its spool, up to :data:`DRAIN_ON_STOP_S`); if batches are still spooled
after that (the bus is unreachable), the connection stays listed in state
``draining`` with a ``--drain-only`` process until its spool is empty, across
server restarts, and only then is it forgotten and its directory deleted.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from historian.errors import CatalogueError, CorruptDataError
from historian.fs import FileSystem
from historian.server.connection_spec import (
    ConnectionConflict,
    ConnectionPolicy,
    ConnectionSpec,
    SpecError,
    UnknownConnection,
    parse_spec,
    spec_from_json,
)
from historian.server.managed_collector import ManagedCollector
from historian.server.managed_identities import IdentityPool, ManagedIdentity

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from historian.bus.auth import NatsAuth
    from historian.collect.tags import CollectorTag
    from historian.server.process import HistorianServer

__all__ = ["ConnectionConflict", "ConnectionManager", "SpecError", "UnknownConnection"]

FILE = "connections.json"
FORMAT, VERSION = "twinbench-connections", 1
DRAIN_ON_STOP_S = 15.0
"""How long a stopped collector may spend publishing what it holds before it exits (the
spool keeps the rest; with the bus down it exits at once)."""


class ConnectionManager:
    """Runs the server's collector connections (a front end of :class:`HistorianServer`)."""

    name = "connections"

    def __init__(
        self,
        data_dir: Path,
        nats_url: str,
        catalogue: Path | None,
        policy: ConnectionPolicy,
        *,
        partitions: int = 1,
        replicas: int = 1,
        stream: str | None = None,
        log: Callable[[str], None] = print,
        fs: FileSystem | None = None,
        auth: NatsAuth | None = None,
        identities: IdentityPool | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.root = data_dir / "connections"
        self.nats_url = nats_url
        self.catalogue = catalogue.resolve() if catalogue is not None else None
        self.policy = policy
        self.partitions, self.replicas, self.stream = partitions, replicas, stream
        self._log = log
        self._fs = fs or FileSystem()
        self._specs: dict[str, ConnectionSpec] = {}
        self._removing: set[str] = set()
        self._collectors: dict[str, ManagedCollector] = {}
        self._tags: list[CollectorTag] | None = None
        self._lock = asyncio.Lock()
        self._registry: CollectorRegistry | None = None
        self.auth = auth
        """The server's own bus options: their CA (and mTLS) apply to the collectors too."""
        self.identities = identities
        self._identity: dict[str, ManagedIdentity] = {}
        """Connection id -> its collector's bus identity (secured bus only)."""

    @property
    def secured(self) -> bool:
        """The bus authenticates: every collector needs an identity of its own."""
        return self.auth is not None and self.auth.nkey_seed is not None

    # ------------------------------------------------------------ FrontEnd
    async def start(self, server: HistorianServer | None = None) -> dict[str, str]:
        """Restore the persisted connections and start their collectors."""
        for doc, removing, identity in self._load():
            try:
                spec = spec_from_json(doc)
            except (KeyError, ValueError, TypeError) as exc:
                raise CorruptDataError(
                    f"{self.data_dir / FILE}: a connection is torn: {exc}"
                ) from None
            if identity is not None:
                held = self.identities.get(identity) if self.identities is not None else None
                if held is None:
                    raise CorruptDataError(
                        f"{self.data_dir / FILE}: connection {spec.id!r} holds bus identity "
                        f"{identity!r}, which --managed-identities does not list"
                    )
                self._identity[spec.id] = held
            self._specs[spec.id] = spec
            if removing:
                self._removing.add(spec.id)
            self._start(spec, drain_only=removing)
        if self._specs:
            self._log(f"historian: restored {len(self._specs)} connection(s)")
        return {}

    async def stop(self) -> None:
        """Stop every collector (the list stays persisted for the next start)."""
        await asyncio.gather(*(c.stop(DRAIN_ON_STOP_S + 10) for c in self._collectors.values()))

    # ------------------------------------------------------------ operations
    def count_tags(self, pattern: str | None, names: Sequence[str] | None) -> int:
        from historian.collect.tags import select_tags

        try:
            return len(select_tags(self.tags(), pattern=pattern, names=names))
        except CatalogueError as exc:
            raise SpecError(str(exc)) from None

    def tags(self) -> list[CollectorTag]:
        """The catalogue's collector fields (read once; ConnectionConflict without one)."""
        if self._tags is None:
            if self.catalogue is None:
                raise ConnectionConflict(
                    "connections need the tags' Modbus/OPC UA addresses: start the server "
                    "with --catalogue FILE (the plant's catalogue TOML)"
                )
            from historian.collect.tags import read_collector_tags

            self._tags = read_collector_tags(self.catalogue)
        return self._tags

    async def add(self, doc: Any) -> dict[str, Any]:
        """Check, persist and start one connection; SpecError (400) / ConnectionConflict (409)."""
        async with self._lock:
            spec = parse_spec(doc, self.policy, self.count_tags)
            if spec.id in self._specs:
                raise ConnectionConflict(f"connection {spec.id!r} exists; DELETE it first")
            if len(self._specs) >= self.policy.max_connections:
                raise ConnectionConflict(
                    f"the server already runs {len(self._specs)} connections (its limit, "
                    "--max-connections); remove one first"
                )
            if self.secured:
                self._identity[spec.id] = self._free_identity()
            directory = self.root / spec.id
            shutil.rmtree(directory, ignore_errors=True)  # leftovers of a forgotten one
            self._fs.makedirs(str(directory))
            if spec.tags is not None:
                self._fs.write_atomic(str(directory / "tags.txt"), "\n".join(spec.tags).encode())
            self._specs[spec.id] = spec
            self._save()
            self._start(spec, drain_only=False)
            self._log(f"historian: connection {spec.id} added ({spec.endpoint})")
            return self.describe(spec.id)

    async def remove(self, cid: str) -> tuple[bool, dict[str, Any]]:
        """Stop a connection; (gone, its description). Not gone: it is ``draining``."""
        async with self._lock:
            spec = self._spec(cid)
            collector = self._collectors[cid]
            if cid in self._removing:
                return False, self.describe(cid)
            self._removing.add(cid)
            self._save()  # a crash from here on resumes the removal, never loses the spool
            await collector.stop(DRAIN_ON_STOP_S + 10)
            left = collector.spool_batches()
            if left == 0:
                self._forget(cid)
                self._log(f"historian: connection {cid} removed")
                return True, {**spec.as_json(), "state": "deleted", "spool_batches": 0}
            self._log(f"historian: connection {cid}: {left} spooled batch(es) left; draining")
            self._start(spec, drain_only=True)
            return False, self.describe(cid)

    def all(self) -> list[dict[str, Any]]:
        return [self.describe(cid) for cid in sorted(self._specs)]

    def describe(self, cid: str) -> dict[str, Any]:
        spec = self._spec(cid)
        c = self._collectors[cid]
        doc = {**spec.as_json(), "state": c.state, "pid": c.health()["pid"]}
        ident = self._identity.get(cid)
        if ident is not None:  # which pool identity it runs as (never its secret)
            doc["identity"] = {"name": ident.name, "source_id": ident.source_id}
        return doc

    def health(self, cid: str) -> dict[str, Any]:
        self._spec(cid)
        return self._collectors[cid].health()

    def registry(self) -> CollectorRegistry:
        """``twinbench_connection_*`` of every connection for the server's ``/metrics``."""
        if self._registry is None:
            from historian.server.connection_metrics import connection_registry

            self._registry = connection_registry(
                lambda: [(self.describe(cid), self.health(cid)) for cid in sorted(self._specs)]
            )
        return self._registry

    # ------------------------------------------------------------ internals
    def _free_identity(self) -> ManagedIdentity:
        if self.identities is None:
            raise ConnectionConflict(
                "the bus is secured and a collector may not connect as the historian: start "
                "the server with --managed-identities FILE (security init --managed N)"
            )
        ident = self.identities.free(i.name for i in self._identity.values())
        if ident is None:
            raise ConnectionConflict(
                f"every one of the {len(self.identities.identities)} managed collector "
                "identities is held by a connection; remove one, or issue more "
                "(security init --managed N)"
            )
        return ident

    def _spec(self, cid: str) -> ConnectionSpec:
        spec = self._specs.get(cid)
        if spec is None:
            raise UnknownConnection(cid)
        return spec

    def _start(self, spec: ConnectionSpec, *, drain_only: bool) -> None:
        directory = self.root / spec.id
        self._fs.makedirs(str(directory))
        collector = ManagedCollector(
            spec.id, directory, lambda drain: self._argv(spec, directory, drain), self._log
        )
        collector.on_exit = self._drained
        self._collectors[spec.id] = collector
        collector.start(drain_only=drain_only)

    def _drained(self, collector: ManagedCollector, rc: int) -> None:
        if collector.id in self._removing and self._collectors.get(collector.id) is collector:
            self._forget(collector.id)
            self._log(f"historian: connection {collector.id} drained and removed")

    def _forget(self, cid: str) -> None:
        self._specs.pop(cid, None)
        self._identity.pop(cid, None)
        self._removing.discard(cid)
        self._collectors.pop(cid, None)
        self._save()
        directory = self.root / cid
        quarantined = directory / "spool" / "quarantine"
        if quarantined.is_dir() and any(quarantined.iterdir()):
            # files the drain could not decode: kept for an operator, out of the way
            kept = self.root / f"removed-{cid}-{int(time.time())}"
            directory.rename(kept)
            self._log(f"historian: connection {cid}: quarantined spool files kept in {kept}")
        else:
            shutil.rmtree(directory, ignore_errors=True)

    def _argv(self, spec: ConnectionSpec, directory: Path, drain_only: bool) -> list[str]:
        argv = [
            sys.executable, "-m", "historian.collect",
            "--catalogue", str(self.catalogue), "--protocol", spec.protocol,
            "--endpoint", spec.collector_endpoint, "--nats", self.nats_url,
            "--partitions", str(self.partitions), "--replicas", str(self.replicas),
            "--spool", str(directory / "spool"), "--source-id", self._source_id(spec.id),
            "--interval-s", repr(spec.interval_s), "--metrics", "127.0.0.1:0",
            "--ready-file", str(directory / "ready.json"), "--status-every", "60",
            "--drain-on-stop", repr(DRAIN_ON_STOP_S),
        ]  # fmt: skip
        ident = self._identity.get(spec.id)
        if ident is not None and self.auth is not None:  # its own identity, never ours
            argv += ident.auth(self.auth).argv()
        elif self.auth is not None and self.auth.tls_ca is not None:  # TLS without NKEYs
            argv += ["--nats-tls-ca", str(self.auth.tls_ca)]
        if self.stream is not None:
            argv += ["--stream", self.stream]
        if spec.tags is not None:
            argv += ["--tags-file", str(directory / "tags.txt")]
        else:
            argv += ["--pattern", str(spec.pattern)]
        if spec.protocol == "opcua":
            argv += ["--opcua-security", spec.security]
            if spec.username is not None:
                argv += ["--username", spec.username]
            if spec.password_file is not None:
                argv += ["--password-file", spec.password_file]
        if drain_only:
            argv.append("--drain-only")
        return argv

    def _source_id(self, cid: str) -> str:
        """The identity's source id (it routes to the identity's own partition), else
        ``conn-<id>``."""
        ident = self._identity.get(cid)
        return ident.source_id if ident is not None else f"conn-{cid}"

    def _load(self) -> list[tuple[dict[str, Any], bool, str | None]]:
        path = self.data_dir / FILE
        if not path.exists():
            return []
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("format") != FORMAT or doc.get("version") != VERSION:
                raise ValueError(f"not a version {VERSION} {FORMAT} file")
            return [
                (c["spec"], bool(c.get("removing")), c.get("identity")) for c in doc["connections"]
            ]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CorruptDataError(
                f"{path}: unreadable ({exc}); fix or move it away to start without connections"
            ) from None

    def _save(self) -> None:
        doc = {
            "format": FORMAT,
            "version": VERSION,
            "connections": [
                {
                    "spec": self._specs[cid].as_json(),
                    "removing": cid in self._removing,
                    **({"identity": self._identity[cid].name} if cid in self._identity else {}),
                }
                for cid in sorted(self._specs)
            ],
        }
        text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
        self._fs.write_atomic(str(self.data_dir / FILE), text.encode())
