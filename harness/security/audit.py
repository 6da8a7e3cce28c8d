"""Audit stream: the server's own record of who connected, who left, and who was refused.

nats-server publishes advisories in the system account:

* ``$SYS.ACCOUNT.<account>.CONNECT`` / ``.DISCONNECT`` (``client_connect`` /
  ``client_disconnect``, with the client's account, NKEY, name, host, reason);
* ``$SYS.SERVER.<id>.CLIENT.AUTH.ERR`` for a refused login (no or unknown NKEY,
  expired identity), reason ``Authentication Failure``.

The system account may not use JetStream, so :class:`AuditRecorder` holds two
connections: ``audit`` (system account, subscribe only) listens, and
``audit-writer`` (the ``AUDIT`` account, append only) stores one JSON record
per advisory on ``tb.audit.<kind>`` in the ``AUDIT`` stream, deduplicated by
the advisory id (``Nats-Msg-Id``). Each record also goes to the ``structlog``
logger ``harness.security.audit`` (refusals as warnings).

What the server does not advertise is not here: a permissions violation of a
connected client is only in the server log (see docs/security.md).
"""

from __future__ import annotations

import json
from typing import Any

import nats
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

from harness.security.client import SecureNatsConfig
from harness.security.permissions import AUDIT_STREAM, AUDIT_SUBJECT_PREFIX, AUDIT_SUBJECTS

__all__ = ["AUDIT_MAX_AGE_S", "AuditRecorder", "audit_record", "audit_stream_config"]

AUDIT_MAX_AGE_S = 180 * 24 * 3600.0
"""How long audit records are kept (the stream drops older ones)."""

log = structlog.get_logger("harness.security.audit")


def _kind(subject: str) -> str:
    if subject.endswith(".CLIENT.AUTH.ERR"):
        return "auth_error"
    if subject.endswith(".DISCONNECT"):
        return "disconnect"
    if subject.endswith(".CONNECT"):
        return "connect"
    raise ValueError(f"not an audited advisory subject: {subject!r}")


def audit_record(
    subject: str, advisory: dict[str, Any], names: dict[str, str]
) -> tuple[str, dict[str, Any]]:
    """(subject, record) for one advisory; ``names`` maps NKEY public keys to user names."""
    kind = _kind(subject)
    client = advisory.get("client") or {}
    nkey = client.get("user")
    record = {
        "kind": kind,
        "time": advisory.get("timestamp"),
        "advisory_id": advisory.get("id"),
        "account": client.get("acc"),
        "user": names.get(nkey, nkey) if nkey else None,
        "nkey": nkey,
        "client_name": client.get("name"),
        "host": client.get("host"),
        "reason": advisory.get("reason"),
        "server": (advisory.get("server") or {}).get("name"),
    }
    return f"{AUDIT_SUBJECT_PREFIX}.{kind}", {k: v for k, v in record.items() if v is not None}


def audit_stream_config() -> StreamConfig:
    return StreamConfig(
        name=AUDIT_STREAM,
        subjects=[f"{AUDIT_SUBJECT_PREFIX}.>"],
        storage=StorageType.FILE,
        max_age=AUDIT_MAX_AGE_S,
        duplicate_window=120.0,
    )


class AuditRecorder:
    """Listens in the system account and appends audit records to the ``AUDIT`` stream."""

    def __init__(self, cfg: SecureNatsConfig, url: str) -> None:
        self._cfg = cfg
        self._url = url
        self._names = {i.public_key: i.name for i in cfg.manifest.identities}
        self._listen: NATS | None = None
        self._write: NATS | None = None
        self.recorded = 0
        self.failed = 0

    async def start(self) -> None:
        self._write = await nats.connect(self._url, **self._cfg.connect_kwargs("audit-writer"))
        js = self._write.jetstream()
        try:
            await js.stream_info(AUDIT_STREAM)
        except NotFoundError:
            await js.add_stream(audit_stream_config())
        self._listen = await nats.connect(self._url, **self._cfg.connect_kwargs("audit"))
        for subject in AUDIT_SUBJECTS:
            await self._listen.subscribe(subject, cb=self._on_advisory)
        await self._listen.flush()  # subscribed before start() returns: no event is missed

    async def _on_advisory(self, msg: Msg) -> None:
        assert self._write is not None
        try:
            subject, record = audit_record(msg.subject, json.loads(msg.data), self._names)
        except (ValueError, TypeError) as exc:
            self.failed += 1
            log.error("audit_advisory_unreadable", subject=msg.subject, error=str(exc))
            return
        emit = log.warning if record["kind"] == "auth_error" else log.info
        emit("audit_" + record["kind"], **record)
        headers = (
            {"Nats-Msg-Id": str(record.get("advisory_id", ""))} if "advisory_id" in record else None
        )
        try:
            await self._write.jetstream().publish(
                subject, json.dumps(record).encode(), headers=headers, timeout=5
            )
            self.recorded += 1
        except Exception as exc:  # the stream unavailable: the log line above remains
            self.failed += 1
            log.error("audit_record_not_stored", subject=subject, error=repr(exc))

    async def close(self) -> None:
        for nc in (self._listen, self._write):
            if nc is not None and not nc.is_closed:
                await nc.drain()
        self._listen = self._write = None

    async def __aenter__(self) -> AuditRecorder:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
