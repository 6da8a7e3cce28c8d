"""OPC UA server for a catalogue (slice), on asyncua 2.1.

Address space: one folder per ISA-95 level under Objects (node id = the path
prefix, e.g. ``ns=2;s=acme.permian``) and one variable per tag with node id
``ns=2;s=<isa95 path>``; namespace ``urn:twinbench:plant`` (index 2). Each tick
writes every emitted value with its source timestamp (sensor clock skew included)
and its StatusCode (the sensor model's quality in the top 16 bits); dropouts
write nothing, so subscribers get no notification for them.

Setpoints (``writable`` tags) accept client writes of any numeric type inside
``[low, high]`` (else ``BadOutOfRange``); measurements refuse writes with
``BadNotWritable``. ``Operations`` holds methods ``SetSetpoint(path, value)``,
``StartPump(well)``, ``StopPump(well)``. HistoryRead is served through a
:class:`sim.servers.history.HistoryBackend` when one is given.

Plant events (alarms, trips, operator actions; :mod:`sim.plant_events`) are fired
by :meth:`OpcUaTwinServer.emit_events` as events of type ``TwinbenchEventType``
(``ns=2``, a BaseEventType with Kind, SourcePath, EventKey, Condition, Value, Limit)
emitted by the Server object: subscribe to events on ``i=2253``.

Security: ``none`` | ``sign`` | ``encrypt`` | ``all`` (Basic256Sha256; a
self-signed certificate is generated at start into a temp dir). With ``users``
given, anonymous sessions are refused and user/password is checked. ``secure``
is the hardened mode of :mod:`historian.opcua.security` (SignAndEncrypt only,
users with password hashes from a file, certificate from files or generated into
``pki_dir``); ``docs/opcua.md``, Secure mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import shutil
import socket
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from asyncua import ua as _ua
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.server import Server
from asyncua.server.user_managers import UserManager

from historian.model import status_code_from_quality
from historian.opcua.security import SecureModeConfig, apply_secure_mode, resolve_secure_mode
from sim.errors import NotWritableError, SetpointOutOfRangeError, UnknownTagError
from sim.servers.history import HistoryBackend, HistoryStorageAdapter, ns_to_datetime
from sim.servers.opcua_fast import (
    NULL_VARIANT,
    fast_datavalue,
    fast_variant,
    install_fast_datachange,
)
from sim.tags import Catalogue
from sim.twin import TickResult

# asyncua's NewType-style annotations fight mypy at every call; treat ua as dynamic
ua: Any = _ua

NAMESPACE = "urn:twinbench:plant"
APP_URI = "urn:twinbench:sim:server"
_VARIANT = {
    "float32": ua.VariantType.Float,
    "float64": ua.VariantType.Double,
    "int16": ua.VariantType.Double,  # scaled registers: the engineering value is not integral
    "bool": ua.VariantType.Boolean,
}
_NUMERIC = {
    ua.VariantType.Float, ua.VariantType.Double, ua.VariantType.Int16, ua.VariantType.UInt16,
    ua.VariantType.Int32, ua.VariantType.UInt32, ua.VariantType.Int64, ua.VariantType.UInt64,
    ua.VariantType.Byte, ua.VariantType.SByte, ua.VariantType.Boolean,
}  # fmt: skip
SECURITY = {
    "none": [ua.SecurityPolicyType.NoSecurity],
    "sign": [ua.SecurityPolicyType.Basic256Sha256_Sign],
    "encrypt": [ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt],
    "all": [
        ua.SecurityPolicyType.NoSecurity,
        ua.SecurityPolicyType.Basic256Sha256_Sign,
        ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
    ],
    "secure": [ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt],
}
YIELD_EVERY = 500  # writes between yields to the event loop during a tick's update
EVENT_TEXT_FIELDS = ("Kind", "SourcePath", "EventKey", "Condition")
"""String properties of TwinbenchEventType beside Value and Limit (Double, NaN = none)."""
_log = logging.getLogger(__name__)


class PasswordUserManager(UserManager):
    def __init__(self, users: dict[str, str]) -> None:
        self.users = dict(users)

    def get_user(
        self, iserver: Any, username: str | None = None, password: str | None = None,
        certificate: Any = None,
    ) -> User | None:  # fmt: skip
        if username is not None and self.users.get(username) == password:
            return User(role=UserRole.User)
        return None


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class OpcUaTwinServer:
    def __init__(
        self,
        catalogue: Catalogue,
        source: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        security: str = "none",
        users: dict[str, str] | None = None,
        secure: SecureModeConfig | None = None,
        pki_dir: Path | None = None,
        history: HistoryBackend | None = None,
        fast_notifications: bool = True,
    ) -> None:
        if security not in SECURITY:
            raise ValueError(f"security {security!r} must be one of {sorted(SECURITY)}")
        if (security == "secure") != (secure is not None):
            raise ValueError("security 'secure' goes with a SecureModeConfig (users file), only")
        if secure is not None and users:
            raise ValueError("secure mode takes users from the users file, not plaintext users")
        self.catalogue = catalogue
        self.tags = catalogue.tags
        self.source = source
        self.host = host
        self.port = port
        self.security = security
        self.users = users or {}
        self.secure = secure
        self.pki_dir = pki_dir
        self.history = history
        self.fast_notifications = fast_notifications
        self.server: Server | None = None
        self.ns = 2
        self.node_ids: list[ua.NodeId] = []
        self.index_of: dict[ua.NodeId, int] = {}
        self.variant = [_VARIANT[t.dtype] for t in self.tags]
        self.writable = np.array([t.writable for t in self.tags], dtype=bool)
        self._is_bool = [t.dtype == "bool" for t in self.tags]
        self._attvals: list[Any] = []
        self._published = np.full(len(self.tags), np.nan)
        # the newest values of nodes nobody subscribes to, served on read (_read_latest)
        n_tags = len(self.tags)
        self._latest_v = np.full(n_tags, np.nan)
        self._latest_q = np.zeros(n_tags, dtype=np.uint16)
        self._latest_ts = np.zeros(n_tags, dtype=np.int64)
        self._latest_srv = np.zeros(n_tags, dtype=np.int64)
        self._lazy_ok = (~self.writable).tolist()  # setpoints: always stored (client writes)
        self._index_of: dict[Any, int] = {}
        self._client_seq = np.zeros(len(self.tags), dtype=np.int64)
        self._status: dict[int, ua.StatusCode] = {}
        self._cert_dir: Path | None = None
        self.writes_accepted = 0
        self.writes_refused = 0
        self.event_type: Any = None
        """NodeId of ``TwinbenchEventType`` once started (subscribe to it on the Server)."""
        self._events: Any = None

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://{self.host}:{self.port}/twinbench"

    async def start(self) -> dict[str, Any]:
        logging.getLogger("asyncua").setLevel(logging.WARNING)
        if self.fast_notifications:
            install_fast_datachange()
        if self.port == 0:
            self.port = free_port(self.host)
        server = Server(user_manager=PasswordUserManager(self.users) if self.users else None)
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name("twinbench plant twin")
        await server.set_application_uri(APP_URI)
        server.set_security_policy(SECURITY[self.security])
        if self.users:
            server.set_identity_tokens([ua.UserNameIdentityToken])
        if self.secure is not None:
            if self.pki_dir is None:
                self._cert_dir = self.pki_dir = Path(tempfile.mkdtemp(prefix="twinbench-opcua-"))
            mode = await asyncio.to_thread(  # RSA key generation: not on the event loop
                resolve_secure_mode, self.secure, self.pki_dir, APP_URI, "twinbench plant twin"
            )
            await apply_secure_mode(server, mode)
        elif self.security != "none":
            await self._certificates(server)
        self.ns = await server.register_namespace(NAMESPACE)
        await self._build(server)
        nodes = server.iserver.aspace._nodes  # attribute objects, looked up once for publish()
        self._attvals = [nodes[nid].attributes[ua.AttributeIds.Value] for nid in self.node_ids]
        self._index_of = {nid: i for i, nid in enumerate(self.node_ids)}
        self._intercept_writes(server)
        await self._event_source(server)
        if self.history is not None:
            series = {nid: t.id for nid, t in zip(self.node_ids, self.tags, strict=True)}
            server.iserver.history_manager.set_storage(HistoryStorageAdapter(self.history, series))
        await server.start()
        self.server = server
        return {"opcua": self.endpoint, "opcua_security": self.security, "namespace": NAMESPACE}

    async def _certificates(self, server: Server) -> None:
        from asyncua.crypto.cert_gen import setup_self_signed_certificate
        from cryptography.x509.oid import ExtendedKeyUsageOID

        self._cert_dir = Path(tempfile.mkdtemp(prefix="twinbench-opcua-"))
        key, cert = self._cert_dir / "server-key.pem", self._cert_dir / "server-cert.der"
        await setup_self_signed_certificate(
            key, cert, APP_URI, socket.gethostname(),
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
            {"commonName": "twinbench plant twin", "organizationName": "twinbench"},
        )  # fmt: skip
        await server.load_certificate(str(cert))
        await server.load_private_key(str(key))

    async def _build(self, server: Server) -> None:
        ns = self.ns
        folders: dict[str, Any] = {"": server.nodes.objects}
        for i, tag in enumerate(self.tags):
            segs = tag.segments
            for level in range(1, 7):
                prefix = ".".join(segs[:level])
                if prefix not in folders:
                    parent = folders[".".join(segs[: level - 1])]
                    folders[prefix] = await parent.add_folder(
                        ua.NodeId(prefix, ns), ua.QualifiedName(segs[level - 1], ns)
                    )
            nid = ua.NodeId(tag.path, ns)
            initial = ua.Variant(False if tag.dtype == "bool" else float(tag.low), self.variant[i])
            var = await folders[".".join(segs[:6])].add_variable(
                nid, ua.QualifiedName(segs[6], ns), initial, varianttype=self.variant[i]
            )
            if tag.writable:
                await var.set_writable()
            if self.history is not None:
                await var.write_attribute(
                    ua.AttributeIds.AccessLevel,
                    ua.DataValue(ua.Variant(
                        ua.AccessLevel.CurrentRead.mask | ua.AccessLevel.HistoryRead.mask
                        | (ua.AccessLevel.CurrentWrite.mask if tag.writable else 0),
                        ua.VariantType.Byte,
                    )),
                )  # fmt: skip
            self.node_ids.append(nid)
            self.index_of[nid] = i
        ops = await server.nodes.objects.add_object(
            ua.NodeId("twinbench.operations", ns), ua.QualifiedName("Operations", ns)
        )
        s, d = ua.VariantType.String, ua.VariantType.Double
        for name, func, args in (
            ("SetSetpoint", self._m_setpoint, [s, d]),
            ("StartPump", self._m_start, [s]),
            ("StopPump", self._m_stop, [s]),
        ):
            await ops.add_method(
                ua.NodeId(f"twinbench.operations.{name}", ns), ua.QualifiedName(name, ns), func,
                args, [],
            )  # fmt: skip

    async def _event_source(self, server: Server) -> None:
        """Plant events are OPC UA events of type ``TwinbenchEventType`` on the Server object."""
        props = [(name, ua.VariantType.String) for name in EVENT_TEXT_FIELDS]
        props += [("Value", ua.VariantType.Double), ("Limit", ua.VariantType.Double)]
        etype = await server.create_custom_event_type(
            self.ns, "TwinbenchEventType", ua.ObjectIds.BaseEventType, props
        )
        self.event_type = etype.nodeid
        self._events = await server.get_event_generator(etype, ua.ObjectIds.Server)

    async def emit_events(self, events: list[Any]) -> None:
        """Fire one OPC UA event per :class:`historian.events.Event` (docs/events.md)."""
        gen = self._events
        if gen is None:
            raise RuntimeError("emit_events() before start()")
        nan = float("nan")
        for e in events:
            ev = gen.event
            ev.Severity = e.severity
            ev.SourceName = e.source
            ev.Kind, ev.SourcePath, ev.EventKey, ev.Condition = e.kind, e.source, e.id, e.condition
            ev.Value = nan if e.value is None else e.value
            ev.Limit = nan if e.limit is None else e.limit
            await gen.trigger(ns_to_datetime(e.time_ns), e.message or e.kind)

    # ---------------------------------------------------------------- client actions

    def _intercept_writes(self, server: Server) -> None:
        service = server.iserver.attribute_service
        original = service.write
        aspace = server.iserver.aspace

        async def write(params: ua.WriteParameters, user: Any = None) -> list[ua.StatusCode]:
            results: list[ua.StatusCode | None] = [None] * len(params.NodesToWrite)
            forward: list[tuple[int, ua.WriteValue, int | None, float]] = []
            now = datetime.now(UTC)
            for k, wv in enumerate(params.NodesToWrite):
                i = self.index_of.get(wv.NodeId)
                if i is None:
                    if wv.NodeId not in aspace:  # stock asyncua says BadUserAccessDenied
                        results[k] = ua.StatusCode(ua.StatusCodes.BadNodeIdUnknown)
                    else:
                        forward.append((k, wv, None, 0.0))
                    continue
                code, value = self._check_write(i, wv)
                if code is not None:
                    self.writes_refused += 1
                    results[k] = ua.StatusCode(code)
                    continue
                dv = ua.DataValue(
                    Value=ua.Variant(self._cast(i, value), self.variant[i]),
                    SourceTimestamp=now, ServerTimestamp=now,
                )  # fmt: skip
                forward.append((k, dataclasses.replace(wv, Value=dv), i, value))
            if forward:
                sub = ua.WriteParameters(NodesToWrite=[wv for _, wv, _, _ in forward])
                kwargs = {} if user is None else {"user": user}
                codes = await original(sub, **kwargs)
                for (k, _, i, value), status in zip(forward, codes, strict=True):
                    results[k] = status
                    if i is not None and status.is_good():
                        self._client_seq[i] = self.source.write(self.tags[i].id, value)
                        self._published[i] = value
                        self.writes_accepted += 1
            return [r if r is not None else ua.StatusCode() for r in results]

        service.write = write  # type: ignore[method-assign]

    def _check_write(self, i: int, wv: ua.WriteValue) -> tuple[int | None, float]:
        tag = self.tags[i]
        if wv.AttributeId != ua.AttributeIds.Value or not tag.writable:
            return ua.StatusCodes.BadNotWritable, 0.0
        var = wv.Value.Value if wv.Value is not None else None
        if var is None or var.VariantType not in _NUMERIC or var.is_array:
            return ua.StatusCodes.BadTypeMismatch, 0.0
        value = float(var.Value)
        if not (tag.low <= value <= tag.high):
            return ua.StatusCodes.BadOutOfRange, 0.0
        return None, value

    def _cast(self, i: int, value: float) -> float | bool:
        return bool(value) if self.variant[i] == ua.VariantType.Boolean else float(value)

    async def _m_setpoint(self, parent: ua.NodeId, path: ua.Variant, value: ua.Variant) -> Any:
        try:
            i = self.catalogue.tags.index(self.catalogue.by_path[str(path.Value)])
        except KeyError:
            return ua.StatusCode(ua.StatusCodes.BadNodeIdUnknown)
        try:
            seq = self.source.write(self.tags[i].id, float(value.Value))
        except NotWritableError:
            return ua.StatusCode(ua.StatusCodes.BadNotWritable)
        except SetpointOutOfRangeError:
            return ua.StatusCode(ua.StatusCodes.BadOutOfRange)
        self._client_seq[i] = seq
        self._published[i] = float(value.Value)
        await self._write_value(i, float(value.Value), 0, datetime.now(UTC))
        return []

    async def _m_start(self, parent: ua.NodeId, well: ua.Variant) -> Any:
        return self._pump(str(well.Value), True)

    async def _m_stop(self, parent: ua.NodeId, well: ua.Variant) -> Any:
        return self._pump(str(well.Value), False)

    def _pump(self, well: str, running: bool) -> Any:
        """``well`` is a well's path (5 segments) or any tag path inside it."""
        prefix = well + "."
        path = next(
            (t.path for t in self.tags if t.path == well or t.path.startswith(prefix)), None
        )
        if path is None:
            return ua.StatusCode(ua.StatusCodes.BadNodeIdUnknown)
        try:
            self.source.set_pump(path, running)
        except UnknownTagError:
            return ua.StatusCode(ua.StatusCodes.BadNodeIdUnknown)
        return []

    # ---------------------------------------------------------------- updates

    def _status_code(self, quality: int) -> ua.StatusCode:
        sc = self._status.get(quality)
        if sc is None:
            sc = self._status[quality] = ua.StatusCode(status_code_from_quality(quality))
        return sc

    async def _write_value(self, i: int, value: float, quality: int, ts: datetime) -> None:
        assert self.server is not None
        dv = ua.DataValue(
            Value=ua.Variant(self._cast(i, value), self.variant[i]),
            StatusCode=self._status_code(quality),
            SourceTimestamp=ts,
            ServerTimestamp=datetime.now(UTC),
        )
        await self.server.iserver.aspace.write_attribute_value(
            self.node_ids[i], ua.AttributeIds.Value, dv
        )

    async def publish(self, result: TickResult) -> None:
        """Write one tick: every emitted measurement, and setpoints the twin itself changed.

        The hot path of the server (2,000+ writes per tick). It does what
        ``AddressSpace.write_attribute_value`` does for a Value attribute (store the
        DataValue, null the value under a Bad StatusCode, run the datachange
        callbacks that feed subscriptions) on attribute objects looked up once at
        start, and builds Variant/DataValue objects without their validating
        ``__post_init__`` (types are fixed per tag and known to be right). That
        roughly halves the cost per value; tests read and subscribe through a real
        client to hold the behaviour equal. A node nobody subscribes to (every node of a
        server whose collector polls Modbus) gets no DataValue at all: its newest value
        stays in arrays and :meth:`_read_latest` builds one when a client reads it
        (~0.25x the CPU per tick of 2,000 such tags).
        """
        if self.server is None:
            raise RuntimeError("publish() before start()")
        attvals = self._attvals
        now_ns = time.time_ns()
        now = ns_to_datetime(now_ns)
        values, quality, ts = result.values, result.quality, result.ts
        send = result.emit & ~self.writable
        sp = self.writable & (values != self._published)
        sp &= self._client_seq <= result.applied_write_seq
        idx = np.flatnonzero(send | sp)
        self._published[sp] = values[sp]
        self._latest_v[idx], self._latest_q[idx] = values[idx], quality[idx]
        self._latest_ts[idx], self._latest_srv[idx] = ts[idx], now_ns
        reader, lazy_ok = self._read_latest, self._lazy_ok
        bad = (quality >> 14) >= 2
        # numpy -> Python objects once per tick, not per value
        vals = values[idx].tolist()
        quals = quality[idx].tolist()
        stamps = ts[idx].tolist()
        bads = bad[idx].tolist()
        for n, i in enumerate(idx.tolist()):
            attval = attvals[i]
            if lazy_ok[i] and not attval.datachange_callbacks:
                # nobody subscribes: no DataValue per tick, a read builds it from the arrays
                # (a Modbus-polled server's OPC UA side was most of its tick's cost)
                if attval.value_callback != reader:
                    attval.value, attval.value_callback = None, reader
                continue
            if bads[n]:
                var = NULL_VARIANT
            else:
                v = vals[n]
                var = fast_variant(bool(v) if self._is_bool[i] else v, self.variant[i])
            dv = fast_datavalue(var, self._status_code(quals[n]), ns_to_datetime(stamps[n]), now)
            attval.value = dv
            attval.value_callback = None
            for handle, callback in list(attval.datachange_callbacks.items()):
                try:
                    await callback(handle, dv)
                except Exception:  # as asyncua does: one bad subscriber must not stop the tick
                    _log.exception("datachange callback failed for %s", self.node_ids[i])
            if n % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)

    def _read_latest(self, nodeid: Any, _attr: Any) -> ua.DataValue:
        """The Value attribute of a node whose newest value :meth:`publish` left in the arrays."""
        i = self._index_of[nodeid]
        quality = int(self._latest_q[i])
        if (quality >> 14) >= 2:
            var = NULL_VARIANT
        else:
            v = float(self._latest_v[i])
            var = fast_variant(bool(v) if self._is_bool[i] else v, self.variant[i])
        source_ts = ns_to_datetime(int(self._latest_ts[i]))
        server_ts = ns_to_datetime(int(self._latest_srv[i]))
        dv: ua.DataValue = fast_datavalue(var, self._status_code(quality), source_ts, server_ts)
        return dv

    async def stop(self) -> None:
        if self.server is not None:
            with contextlib.suppress(Exception):
                await self.server.stop()
            self.server = None
        if self._cert_dir is not None:
            shutil.rmtree(self._cert_dir, ignore_errors=True)
            self._cert_dir = None
