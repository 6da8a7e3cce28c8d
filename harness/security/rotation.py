"""Key rotation for a deployment directory: a user's NKEY and certificate, the store key.

Rotation rewrites files in DIR and the manifest; the running nats-server picks
it up when its config is rendered again from the manifest and it is restarted
(or sent SIGHUP / ``nats-server --signal reload``, which reloads users and
permissions but not JetStream encryption settings). The steps for operators
are in docs/security.md ("Rotating keys").

* :func:`rotate_user`: a fresh NKEY seed and client certificate for one user,
  valid ``days`` from now; the old public key disappears from the rendered
  config, so the old seed is refused from the next reload on.
* :func:`rotate_jetstream_key`: a fresh store key; the previous one is kept as
  ``prev_encryption_key`` so nats-server can still read blocks written under
  it (it re-encrypts them) — drop it with :func:`forget_previous_jetstream_key`
  once the server has run with the new key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import secrets
from pathlib import Path

from harness.security.identities import new_user_nkey
from harness.security.manifest import SecurityManifest
from harness.security.nats_config import key_include_text
from harness.security.pki import issue_cert, load_cert_and_key, write_private_file

__all__ = ["forget_previous_jetstream_key", "rotate_jetstream_key", "rotate_user"]

_KEY_LINE = re.compile(r'^key:\s*"([^"]+)"\s*$', re.MULTILINE)


def rotate_user(
    directory: Path, name: str, *, days: float, now: dt.datetime | None = None
) -> SecurityManifest:
    """New seed and client certificate for ``name``; returns the updated manifest."""
    manifest = SecurityManifest.load(directory)
    old = manifest.identity(name)
    now = now or dt.datetime.now(dt.UTC)
    if not days > 0:
        raise ValueError(f"--days must be > 0, got {days}")
    seed, public = new_user_nkey()
    write_private_file(directory / old.seed_file, seed + b"\n")
    if old.cert_file and old.key_file:
        ca = load_cert_and_key(directory / manifest.tls.ca_cert, directory / "ca.key")
        cert = issue_cert(ca, name, days=days, server=False, now=now)
        cert.write(directory / old.cert_file, directory / old.key_file)
    expires = (now + dt.timedelta(days=days)).astimezone(dt.UTC).isoformat(timespec="seconds")
    new = dataclasses.replace(old, public_key=public, expires=expires)
    identities = tuple(new if i.name == name else i for i in manifest.identities)
    updated = dataclasses.replace(manifest, identities=identities)
    updated.save(directory)
    return updated


def _current_key(path: Path) -> str:
    match = _KEY_LINE.search(path.read_text())
    if match is None:
        raise ValueError(f"{path}: no `key:` line (not written by `security init`?)")
    return match.group(1)


def rotate_jetstream_key(directory: Path) -> None:
    """A new store key; the old one stays as ``prev_encryption_key`` for reading old blocks.

    nats-server reads the encryption settings only at start: restart it afterwards.
    """
    manifest = SecurityManifest.load(directory)
    path = directory / manifest.jetstream_key_file
    previous = _current_key(path)
    text = key_include_text(secrets.token_urlsafe(32)) + f'prev_encryption_key: "{previous}"\n'
    write_private_file(path, text.encode())


def forget_previous_jetstream_key(directory: Path) -> None:
    """Drop ``prev_encryption_key`` once the server has started with the new key."""
    manifest = SecurityManifest.load(directory)
    path = directory / manifest.jetstream_key_file
    write_private_file(path, key_include_text(_current_key(path)).encode())
