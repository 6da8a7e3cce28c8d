"""The key file: 32 random bytes as 64 hex digits, readable by its owner only.

    $ python -m historian.crypto keygen store.key     # writes it with mode 0600

A key file is refused (one line saying what to fix) when it is missing, unreadable,
not 64 hex digits, or readable or writable by group or others. Every encrypted file
header stores the key id (first 8 bytes of SHA-256 of the key), so opening a file with
another key says so instead of reporting corruption.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "k")
>>> generate_key_file(path)
>>> len(load_key(path)), oct(os.stat(path).st_mode & 0o777)
(32, '0o600')
>>> os.chmod(path, 0o644)
>>> load_key(path)
Traceback (most recent call last):
...
historian.crypto.keyfile.KeyFileError: encryption key file ... (mode 0644): run chmod 600 ...
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from typing import TYPE_CHECKING

from historian.errors import HistorianError

if TYPE_CHECKING:
    from historian.crypto.cipher import BlockCipher

KEY_BYTES = 32
_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")


class EncryptionKeyError(HistorianError, ValueError):
    """The configured key does not fit the files: wrong key, no key, or an unencrypted file."""


class KeyFileError(EncryptionKeyError):
    """The key file is missing, unreadable, malformed or too open."""


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:8]


def generate_key_file(path: str | os.PathLike[str]) -> None:
    """Write a new random key to ``path`` (mode 0600); refuses to overwrite a file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, os.urandom(KEY_BYTES).hex().encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def load_key(path: str | os.PathLike[str]) -> bytes:
    """The 32 key bytes of the key file ``path``; raises :class:`KeyFileError` on any problem."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise KeyFileError(f"encryption key file {path} does not exist") from None
    except OSError as exc:
        raise KeyFileError(f"encryption key file {path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise KeyFileError(f"encryption key file {path} is not a regular file")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise KeyFileError(
            f"encryption key file {path} is readable by group or others (mode {mode:04o}): "
            f"run chmod 600 {path}"
        )
    try:
        with open(path, "rb") as f:
            raw = f.read(4096)
    except OSError as exc:
        raise KeyFileError(f"encryption key file {path}: {exc.strerror}") from None
    text = raw.decode("ascii", "replace").strip()
    if not _HEX_KEY.fullmatch(text):
        raise KeyFileError(
            f"encryption key file {path} must hold {KEY_BYTES} bytes as 64 hex digits "
            f"(found {len(text)} characters); make one with "
            "`python -m historian.crypto keygen FILE`"
        )
    return bytes.fromhex(text)


def load_cipher(path: str | os.PathLike[str]) -> BlockCipher:
    from historian.crypto.cipher import BlockCipher

    return BlockCipher(load_key(path))


def require_same_key(path: str, file_key_id: bytes | None, cipher: BlockCipher | None) -> None:
    """Refuse a file whose encryption does not match the configured key.

    ``file_key_id`` is None for an unencrypted file. A plaintext file is refused when a
    key is configured: its checksums are not keyed, so anyone could have written it.
    """
    if file_key_id is None:
        if cipher is not None:
            raise EncryptionKeyError(
                f"{path} is not encrypted, but an encryption key is configured: refusing it "
                "(an unencrypted file in an encrypted store may be forged); open the store "
                "without a key if it was never encrypted"
            )
        return
    if cipher is None:
        raise EncryptionKeyError(
            f"{path} is encrypted (key id {file_key_id.hex()}); configure its key "
            "(--encryption-key FILE, Options.encryption_key_file)"
        )
    if file_key_id != cipher.key_id:
        raise EncryptionKeyError(
            f"file {path} was encrypted with key id {file_key_id.hex()}, "
            f"the configured key is {cipher.key_id.hex()}"
        )
