"""JetStream store encryption: what a collector published is not on disk in clear.

The control run (same publish, server without ``cipher``) shows the scan finds
the marker when it is there, so an absent marker means encrypted, not missed.
"""

from __future__ import annotations

import os
from pathlib import Path

import nats
import pytest

from harness.security.client import SecureNatsConfig
from harness.services import NatsServer
from tests.harness.security.conftest import provision, start_server

pytestmark = [pytest.mark.service]


def files_containing(root: Path, needle: bytes) -> list[Path]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and needle in path.read_bytes():
            hits.append(path)
    return hits


async def publish_marker(url: str, subject: str, marker: bytes, **connect: object) -> int:
    nc = await nats.connect(url, **connect)
    try:
        ack = await nc.jetstream().publish(subject, marker, timeout=10)
        return int(ack.seq)
    finally:
        await nc.close()


async def test_stream_files_do_not_hold_published_plaintext(
    deployment: SecureNatsConfig, tmp_path: Path
) -> None:
    marker = b"PLAINTEXT-MARKER-" + os.urandom(8).hex().encode()
    opts = deployment.manifest.bus
    ident = deployment.manifest.identity("acme-collector-1")
    assert ident.partition is not None
    subject = opts.batch_subject(ident.partition)

    server = start_server(deployment, tmp_path / "enc")
    try:
        await provision(deployment, server, ("acme",))
        seq = await publish_marker(
            server.url, subject, marker, **deployment.connect_kwargs(ident.name)
        )
        server.stop()  # a clean shutdown flushes every block to disk
        assert list(server.store_dir.rglob("*.blk")), "the stream wrote no message blocks"
        assert files_containing(server.store_dir, marker) == []
        assert "ChaCha20-Poly1305" in server.log_path.read_text()

        # the key in the deployment still opens the store: the message reads back
        server.restart()
        nc = await nats.connect(server.url, **deployment.connect_kwargs("acme-operator"))
        try:
            msg = await nc.jetstream().get_msg(opts.stream, seq)
            assert msg.data == marker
        finally:
            await nc.close()
    finally:
        server.close()

    with NatsServer(tmp_path / "plain") as plain:  # control: no cipher, no auth
        nc = await nats.connect(plain.url)
        try:
            await nc.jetstream().add_stream(name=opts.stream, subjects=[opts.all_batch_subjects()])
        finally:
            await nc.close()
        await publish_marker(plain.url, subject, marker)
        plain.stop()
        assert files_containing(plain.store_dir, marker), "the scan misses plaintext"
