"""inspect, verify and repair of an encrypted store: with its key they work (repair's
output stays encrypted); without it or with another one: one line, exit 2, nothing made."""

from __future__ import annotations

import struct
from pathlib import Path

import crc32c
import numpy as np
import pytest
from typer.testing import CliRunner

from historian import Historian, Options
from historian.cli import app
from historian.crypto import generate_key_file, load_cipher

MARKER = 1.602176634


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "k"
    generate_key_file(key)
    root = tmp_path / "db"
    db = Historian.open(str(root), Options(encryption_key_file=str(key), background=False))
    ts = 10**18 + np.arange(500, dtype=np.int64)
    db.write_arrays(np.full(500, 3), ts, np.full(500, MARKER))
    db.flush()
    db.write_arrays([4, 4], [10**18, 10**18 + 1], [MARKER, 2.0])  # stays in the WAL
    db.close()
    return root, key


def run(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(app, list(args))
    return r.exit_code, r.output


def test_inspect_and_verify_with_the_key(store: tuple[Path, Path]) -> None:
    root, key = store
    code, out = run("inspect", str(root), "--encryption-key", str(key))
    assert code == 0 and "2 in the WAL" in out, out
    code, out = run("verify", str(root), "--encryption-key", str(key))
    assert code == 0 and ": OK" in out, out


@pytest.mark.parametrize("command", ["inspect", "verify", "repair"])
def test_without_or_with_another_key_one_line_exit_2(
    store: tuple[Path, Path], tmp_path: Path, command: str
) -> None:
    root, key = store
    other = tmp_path / "other"
    generate_key_file(other)
    extra = ["--output", str(tmp_path / "out")] if command == "repair" else []
    code, out = run(command, str(root), *extra)
    assert code == 2 and "is encrypted" in out and out.count("\n") == 1, out
    code, out = run(command, str(root), *extra, "--encryption-key", str(other))
    assert code == 2 and out.count("\n") == 1, out
    assert f"encrypted with key id {load_cipher(key).key_id_hex}, the configured key" in out
    assert not (tmp_path / "out").exists()


def test_repair_keeps_the_output_encrypted_and_drops_only_the_tampered_record(
    store: tuple[Path, Path], tmp_path: Path
) -> None:
    root, key = store
    wal = sorted((root / "wal").iterdir())[-1]
    raw = bytearray(wal.read_bytes())
    raw[48 + 8 + 13 + 12] ^= 1  # the WAL record of series 4: first ciphertext byte
    size = int.from_bytes(raw[48:52], "little")
    struct.pack_into("<I", raw, 52, crc32c.crc32c(bytes(raw[56 : 56 + size])))  # not keyed
    wal.write_bytes(raw)
    code, out = run("verify", str(root), "--encryption-key", str(key))
    assert code == 1 and "failed AES-GCM authentication" in out, out
    out_dir = tmp_path / "out"
    code, out = run("repair", str(root), "--output", str(out_dir), "--encryption-key", str(key))
    assert code == 0 and "dropped:" in out and "AES-GCM" in out, out
    assert "seq 2..2, 2 points" in out, out  # the record of series 4, counted right
    db = Historian.open(str(out_dir), Options(encryption_key_file=str(key)))
    try:
        assert db.read(3, 0, 2**62)[1].tolist() == [MARKER] * 500
        assert len(db.read(4, 0, 2**62)[0]) == 0
    finally:
        db.close()
    marker = np.float64(MARKER).tobytes()
    assert all(marker not in p.read_bytes() for p in out_dir.rglob("*") if p.is_file())
