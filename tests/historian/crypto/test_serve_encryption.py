"""``twinbench historian serve --encryption-key FILE``: checked before anything starts; the
real server process opens an encrypted store with its key and refuses it with another."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from historian import Historian, Options
from historian.crypto import generate_key_file, load_cipher

SERVER = [sys.executable, "-m", "historian.server"]
ENV = dict(os.environ, NUMBA_CACHE_DIR=os.environ.get("NUMBA_CACHE_DIR", "/tmp/numba-cache"))


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SERVER, *args], capture_output=True, text=True, timeout=120, env=ENV)


@pytest.mark.parametrize(
    ("content", "mode", "why"),
    [
        (None, 0o600, "does not exist"),
        ("00" * 16, 0o600, "64 hex digits"),
        ("00" * 32, 0o640, "run chmod 600"),
    ],
)
def test_bad_key_file_is_a_one_line_usage_error(
    tmp_path: Path, content: str | None, mode: int, why: str
) -> None:
    key = tmp_path / "k"
    if content is not None:
        key.write_text(content)
        os.chmod(key, mode)
    r = serve(str(tmp_path / "h"), "--encryption-key", str(key))
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "--encryption-key" in r.stderr and why in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "h").exists()  # refused before touching anything


def test_server_opens_an_encrypted_store_with_its_key_only(tmp_path: Path) -> None:
    key, other = tmp_path / "a.key", tmp_path / "b.key"
    generate_key_file(key)
    generate_key_file(other)
    data = tmp_path / "h"
    db = Historian.open(str(data), Options(encryption_key_file=str(key)))
    db.write_arrays([1, 1], [10**18, 10**18 + 1], [1.5, 2.5])
    db.close()

    r = serve(str(data), "--encryption-key", str(other))
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    want = f"encrypted with key id {load_cipher(key).key_id_hex}, the configured key is"
    assert want in r.stderr and load_cipher(other).key_id_hex in r.stderr
    r = serve(str(data))
    assert r.returncode == 2 and "is encrypted" in r.stderr, r.stderr

    ready = tmp_path / "ready.json"
    cmd = [*SERVER, str(data), "--encryption-key", str(key), "--ready-file", str(ready)]
    with open(tmp_path / "serve.log", "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=ENV)
    try:
        deadline = time.monotonic() + 90
        while not ready.exists():
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "serve never became ready"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, (tmp_path / "serve.log").read_text()
    db = Historian.open(str(data), Options(encryption_key_file=str(key)))
    try:
        assert db.read(1, 0, 2**62)[1].tolist() == [1.5, 2.5]
    finally:
        db.close()
    assert np.float64(2.5).tobytes() not in b"".join(
        p.read_bytes() for p in data.rglob("*") if p.is_file()
    )
