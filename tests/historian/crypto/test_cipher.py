"""BlockCipher (AES-256-GCM per block) and the key file: round trips, binding, refusals."""

from __future__ import annotations

import doctest
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import historian.crypto.cipher
import historian.crypto.keyfile
from historian.crypto import (
    BLOCK_OVERHEAD,
    BlockAuthenticationError,
    BlockCipher,
    EncryptionKeyError,
    KeyFileError,
    generate_key_file,
    load_cipher,
    load_key,
    require_same_key,
)

KEY = bytes(range(32))


@given(st.binary(max_size=5000), st.binary(max_size=64))
def test_round_trip_any_block_and_aad(plain: bytes, aad: bytes) -> None:
    c = BlockCipher(KEY)
    sealed = c.encrypt(plain, aad)
    assert len(sealed) == len(plain) + BLOCK_OVERHEAD
    assert c.decrypt(sealed, aad) == plain
    assert c.decrypt(memoryview(sealed), aad) == plain  # the mmap seam hands views


@given(st.binary(min_size=1, max_size=2000), st.binary(max_size=32), st.data())
def test_any_flipped_bit_is_refused(plain: bytes, aad: bytes, data: st.DataObject) -> None:
    c = BlockCipher(KEY)
    sealed = bytearray(c.encrypt(plain, aad))
    bit = data.draw(st.integers(0, len(sealed) * 8 - 1))
    sealed[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(BlockAuthenticationError):
        c.decrypt(bytes(sealed), aad)


@given(st.binary(max_size=500), st.binary(max_size=32), st.binary(max_size=32))
def test_other_aad_is_refused(plain: bytes, aad: bytes, other: bytes) -> None:
    if aad == other:
        return
    sealed = BlockCipher(KEY).encrypt(plain, aad)
    with pytest.raises(BlockAuthenticationError):
        BlockCipher(KEY).decrypt(sealed, other)


def test_nonces_differ_and_other_key_is_refused() -> None:
    c = BlockCipher(KEY)
    a, b = c.encrypt(b"same", b""), c.encrypt(b"same", b"")
    assert a[:12] != b[:12] and a != b  # a fresh random nonce per block
    other = BlockCipher(bytes(32))
    assert other.key_id != c.key_id
    with pytest.raises(BlockAuthenticationError):
        other.decrypt(a, b"")
    with pytest.raises(BlockAuthenticationError, match="shorter than nonce"):
        c.decrypt(b"x" * 27, b"")


def test_key_file_generated_0600_and_loaded(tmp_path: Path) -> None:
    path = tmp_path / "k"
    generate_key_file(path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert len(load_key(path)) == 32
    assert load_cipher(path).key_id == BlockCipher(load_key(path)).key_id
    with pytest.raises(FileExistsError):
        generate_key_file(path)  # never overwrites a key


@pytest.mark.parametrize(
    ("content", "mode", "message"),
    [
        (None, 0o600, "does not exist"),
        ("ab" * 31, 0o600, "64 hex digits"),
        ("zz" * 32, 0o600, "64 hex digits"),
        ("ab" * 32, 0o644, r"readable by group or others \(mode 0644\): run chmod 600"),
        ("ab" * 32, 0o620, r"mode 0620"),
    ],
)
def test_bad_key_files_are_one_clear_error(
    tmp_path: Path, content: str | None, mode: int, message: str
) -> None:
    path = tmp_path / "k"
    if content is not None:
        path.write_text(content + "\n")
        os.chmod(path, mode)
    with pytest.raises(KeyFileError, match=message):
        load_key(path)


def test_key_file_that_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="not a regular file"):
        load_key(tmp_path)


def test_require_same_key_messages() -> None:
    c = BlockCipher(KEY)
    other = BlockCipher(bytes(32))
    require_same_key("f", None, None)
    require_same_key("f", c.key_id, c)
    with pytest.raises(EncryptionKeyError, match=r"f is encrypted .* configure its key"):
        require_same_key("f", c.key_id, None)
    with pytest.raises(EncryptionKeyError, match="not encrypted, but an encryption key"):
        require_same_key("f", None, c)
    want = f"file f was encrypted with key id {c.key_id.hex()}, the configured key is "
    with pytest.raises(EncryptionKeyError, match=want + other.key_id.hex()):
        require_same_key("f", c.key_id, other)


def test_keygen_command(tmp_path: Path) -> None:
    path = tmp_path / "store.key"
    cmd = [sys.executable, "-m", "historian.crypto", "keygen", str(path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "key id" in done.stdout
    assert len(load_key(path)) == 32
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr
    assert again.stderr.count("\n") == 1


@pytest.mark.parametrize("module", [historian.crypto.cipher, historian.crypto.keyfile])
def test_docstring_examples(module: object) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)  # type: ignore[arg-type]
    assert result.attempted > 0 and result.failed == 0


def test_one_cipher_shared_by_threads() -> None:
    """The engine's writer, flush, compaction and reader threads share one BlockCipher."""
    import threading

    c = BlockCipher(KEY)
    bad: list[int] = []

    def work(seed: int) -> None:
        for i in range(400):
            plain, aad = os.urandom(seed * 100 + i), seed.to_bytes(4, "little")
            if c.decrypt(c.encrypt(plain, aad), aad) != plain:
                bad.append(i)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads) and bad == []
