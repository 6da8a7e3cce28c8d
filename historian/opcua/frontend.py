"""OPC UA as a front end of ``twinbench historian serve --opcua HOST:PORT``.

:class:`OpcUaFrontEnd` implements :class:`historian.server.process.FrontEnd`. On
start it builds the address space from the server's catalogue
(:mod:`historian.opcua.address_space`), installs the HistoryRead service
(:class:`~historian.opcua.service.HistorianHistoryManager`) in place of
asyncua's, and serves at ``opc.tcp://HOST:PORT/twinbench/historian`` (port 0
picks a free port; the ready file's ``"opcua"`` key holds the URL). With
``secure`` (``--opcua-security secure``) it serves only Basic256Sha256
SignAndEncrypt to users of a password-hash file (:mod:`historian.opcua.security`;
the certificate is generated into ``DIR/opcua-pki`` unless given).

Current values: every ``refresh_s`` the front end checks the store's write
sequence (``Historian.last_seq``, a counter) and, when it moved, reads
every tag's newest point from one snapshot in a worker thread and writes the
changed ones into the variables, so subscriptions see new values within about
``refresh_s`` of their ingest (longer for a large catalogue: the pause is at least
twice the last refresh, ~0.1 ms per tag measured, so refreshing takes at most a
third of the time). Reading happens off the event loop, which also
carries the ingest workers and asyncua's session watchdog.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
import time
from typing import TYPE_CHECKING, Any

import numpy as np
from asyncua.server.server import Server

from historian.catalogue import TagInfo
from historian.model import status_code_from_quality
from historian.opcua import address_space
from historian.opcua.encoding import ns_to_datetime, ua
from historian.opcua.security import SecureModeConfig, apply_secure_mode, resolve_secure_mode
from historian.opcua.service import HistorianHistoryManager, HistoryLimits
from historian.query.engine import QueryEngine

if TYPE_CHECKING:
    from historian.lsm.engine import Historian
    from historian.server.process import HistorianServer

__all__ = ["OpcUaFrontEnd", "parse_limits", "parse_listen"]

PATH = "/twinbench/historian"
APPLICATION_URI = "urn:twinbench:historian:server"
PKI_DIR = "opcua-pki"
"""Under the data directory: the generated server certificate of secure mode."""
_log = logging.getLogger(__name__)


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port); ValueError says what is expected."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65_535:
        raise ValueError(
            f"--opcua {text!r}: expected HOST:PORT such as 127.0.0.1:4840 (port 0 = any)"
        )
    return host, int(port)


def parse_limits(items: list[str]) -> tuple[tuple[str, int], ...]:
    """``["max_values=1000", ...]`` -> ((name, value), ...); ValueError names the bad item."""
    names = {f.name for f in dataclasses.fields(HistoryLimits)}
    out = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in names or not value.isdigit() or int(value) < 1:
            raise ValueError(
                f"--opcua-limit {item!r}: expected NAME=N with N >= 1 and NAME one of "
                + ", ".join(sorted(names))
            )
        out.append((name, int(value)))
    return tuple(out)


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def read_lasts(db: Historian, tags: list[TagInfo]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every tag's newest (ts, value, quality) from one snapshot; ts -1 = no point yet."""
    ts = np.full(len(tags), -1, np.int64)
    values = np.full(len(tags), np.nan)
    quality = np.zeros(len(tags), np.uint16)
    snap = db.snapshot()
    try:
        for i, tag in enumerate(tags):
            p = snap.last(tag.id)
            if p is not None:
                ts[i], values[i], quality[i] = p.ts, p.value, p.quality
    finally:
        snap.release()
    return ts, values, quality


class OpcUaFrontEnd:
    """An asyncua server over the historian's store (see the module docstring)."""

    name = "opcua"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        limits: HistoryLimits | None = None,
        refresh_s: float = 0.25,
        secure: SecureModeConfig | None = None,
    ) -> None:
        self.host = host
        self.secure = secure
        """Secure mode (historian.opcua.security) when given; else the None endpoint only."""
        self.port = port
        self.limits = limits or HistoryLimits()
        self.refresh_s = refresh_s
        self.server: Any = None
        self.history: HistorianHistoryManager | None = None
        self.tags: list[TagInfo] = []
        self._node_ids: list[Any] = []
        self._task: asyncio.Task[None] | None = None
        self._seen = np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.uint16)
        self._seq = -1

    @property
    def endpoint(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"opc.tcp://{host}:{self.port}{PATH}"

    async def start(self, server: HistorianServer) -> dict[str, str]:
        logging.getLogger("asyncua").setLevel(logging.WARNING)
        db = server.db
        engine = QueryEngine(db, server.catalogue)
        self.tags = engine.tags("*")
        if self.port == 0:
            self.port = _free_port(self.host)
        ua_server = Server()
        await ua_server.init()
        ua_server.set_endpoint(f"opc.tcp://{self.host}:{self.port}{PATH}")
        ua_server.set_server_name("twinbench historian")
        await ua_server.set_application_uri(APPLICATION_URI)
        ua_server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        if self.secure is not None:
            pki = server.cfg.data_dir / PKI_DIR
            mode = await asyncio.to_thread(  # RSA key generation: not on the event loop
                resolve_secure_mode, self.secure, pki, APPLICATION_URI, "twinbench historian"
            )
            await apply_secure_mode(ua_server, mode)
        ns = await ua_server.register_namespace(address_space.NAMESPACE)
        nodes = await address_space.build(ua_server, self.tags, ns)
        self._node_ids = [ua.NodeId(t.name, ns) for t in self.tags]
        self.history = HistorianHistoryManager(ua_server.iserver, engine, nodes, self.limits)
        ua_server.iserver.history_manager = self.history
        await address_space.publish_capabilities(ua_server, self.limits)
        self.server = ua_server
        await self.refresh(db)
        await ua_server.start()
        self._task = asyncio.create_task(self._refresh_loop(db))
        return {
            "opcua": self.endpoint,
            "opcua_security": "secure" if self.secure is not None else "none",
        }

    async def refresh(self, db: Historian) -> int:
        """Write the tags whose newest point changed; return how many."""
        seq = db.last_seq
        if seq == self._seq:
            return 0
        self._seq = seq
        ts, values, quality = await asyncio.to_thread(read_lasts, db, self.tags)
        old_ts, old_v, old_q = self._seen
        if len(old_ts) == len(ts):
            same_v = (old_v == values) | (np.isnan(old_v) & np.isnan(values))
            changed = np.flatnonzero((ts >= 0) & ~((old_ts == ts) & same_v & (old_q == quality)))
        else:
            changed = np.flatnonzero(ts >= 0)
        self._seen = ts, values, quality
        aspace = self.server.iserver.aspace
        for n, i in enumerate(changed.tolist()):
            tag = self.tags[i]
            vt = address_space.VARIANT.get(tag.dtype, ua.VariantType.Double)
            code = status_code_from_quality(int(quality[i]))
            v = float(values[i])
            bad = (code >> 30) >= 2 or not np.isfinite(v)
            variant = ua.Variant(None) if bad else ua.Variant(bool(v) if vt == 1 else v, vt)
            when = ns_to_datetime(int(ts[i]))
            dv = ua.DataValue(
                Value=variant,
                StatusCode=ua.StatusCode(code),
                SourceTimestamp=when,
                ServerTimestamp=when,
            )
            await aspace.write_attribute_value(self._node_ids[i], ua.AttributeIds.Value, dv)
            if n % 500 == 499:
                await asyncio.sleep(0)  # let sessions and the ingest run between batches
        return len(changed)

    async def _refresh_loop(self, db: Historian) -> None:
        pause = self.refresh_s
        while True:
            await asyncio.sleep(pause)
            began = time.monotonic()
            try:
                await self.refresh(db)
            except Exception:  # a failed refresh must not end the server; the next one retries
                _log.exception("refreshing the OPC UA current values failed")
            # a large catalogue under constant ingest: at most a third of the time refreshing
            pause = max(self.refresh_s, 2 * (time.monotonic() - began))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.server is not None:
            with contextlib.suppress(Exception):
                await self.server.stop()
            self.server = None
