"""The audit stream records connects, disconnects and refused logins (server advisories)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import nats
import nats.js.errors
import pytest

from harness.security.audit import AuditRecorder
from harness.security.client import SecureNatsConfig
from harness.security.identities import new_user_nkey
from harness.security.permissions import AUDIT_STREAM
from harness.services import NatsServer
from tests.harness.security.conftest import refused

pytestmark = [pytest.mark.service]


async def audit_records(cfg: SecureNatsConfig, url: str) -> list[dict[str, Any]]:
    nc = await nats.connect(url, **cfg.connect_kwargs("audit-writer"))
    try:
        js = nc.jetstream()
        last = (await js.stream_info(AUDIT_STREAM)).state.last_seq
        out = []
        for seq in range(1, last + 1):
            try:
                msg = await js.get_msg(AUDIT_STREAM, seq)
            except nats.js.errors.NotFoundError:
                continue
            out.append({"subject": msg.subject, **json.loads(msg.data or b"{}")})
        return out
    finally:
        await nc.close()


async def wait_records(
    cfg: SecureNatsConfig, url: str, want: Any, timeout_s: float = 10.0
) -> list[dict[str, Any]]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    records: list[dict[str, Any]] = []
    while asyncio.get_running_loop().time() < deadline:
        records = await audit_records(cfg, url)
        if want(records):
            return records
        await asyncio.sleep(0.05)
    raise AssertionError(f"audit stream never matched within {timeout_s}s: {records}")


async def test_failed_login_and_collector_connect_disconnect_are_audited(
    deployment: SecureNatsConfig, secure_server: NatsServer, tmp_path: Path
) -> None:
    url = secure_server.url
    async with AuditRecorder(deployment, url) as recorder:
        nc = await nats.connect(
            url, name="collector-process", **deployment.connect_kwargs("acme-collector-2")
        )
        await nc.close()
        seed, stranger = new_user_nkey()
        (tmp_path / "stranger.nk").write_bytes(seed)
        await refused(url, tls=deployment.tls_context(), nkeys_seed=str(tmp_path / "stranger.nk"))

        def complete(records: list[dict[str, Any]]) -> bool:
            kinds = {(r["kind"], r.get("user")) for r in records}
            return {
                ("connect", "acme-collector-2"),
                ("disconnect", "acme-collector-2"),
            } <= kinds and any(r["kind"] == "auth_error" for r in records)

        records = await wait_records(deployment, url, complete)
        assert recorder.failed == 0

    connect = next(
        r for r in records if r["kind"] == "connect" and r.get("user") == "acme-collector-2"
    )
    assert connect["subject"] == "tb.audit.connect"
    assert connect["account"] == "acme" and connect["client_name"] == "collector-process"
    failure = next(r for r in records if r["kind"] == "auth_error")
    assert failure["subject"] == "tb.audit.auth_error"
    assert failure["reason"] == "Authentication Failure"
    assert stranger not in {r.get("user") for r in records if r["kind"] == "connect"}


async def test_audit_writer_cannot_purge_or_delete_the_audit_stream(
    deployment: SecureNatsConfig, secure_server: NatsServer
) -> None:
    async with AuditRecorder(deployment, secure_server.url):
        pass
    nc = await nats.connect(secure_server.url, **deployment.connect_kwargs("audit-writer"))
    try:
        js = nc.jetstream(timeout=1.0)
        with pytest.raises(nats.errors.TimeoutError):
            await js.purge_stream(AUDIT_STREAM)
        with pytest.raises(nats.errors.TimeoutError):
            await js.delete_stream(AUDIT_STREAM)
        assert (await nc.jetstream().stream_info(AUDIT_STREAM)).config.name == AUDIT_STREAM
    finally:
        await nc.close()
