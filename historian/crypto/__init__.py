"""Encryption at rest for the WAL and segment files (opt-in; docs/format/wal.md, segment.md).

A store is encrypted when its :class:`~historian.options.Options` name a key file
(:mod:`historian.crypto.keyfile`). Every WAL record and every segment block is then
sealed with AES-256-GCM (:class:`BlockCipher`), its associated data binding the file
and the block's place in it. Importing this package does not import ``cryptography``;
building a :class:`BlockCipher` does (it comes with the ``server`` extra).
"""

from historian.crypto.cipher import (
    BLOCK_OVERHEAD,
    CIPHER_AES_256_GCM,
    BlockAuthenticationError,
    BlockCipher,
)
from historian.crypto.keyfile import (
    KEY_BYTES,
    EncryptionKeyError,
    KeyFileError,
    generate_key_file,
    key_id,
    load_cipher,
    load_key,
    require_same_key,
)

__all__ = [
    "BLOCK_OVERHEAD",
    "CIPHER_AES_256_GCM",
    "KEY_BYTES",
    "BlockAuthenticationError",
    "BlockCipher",
    "EncryptionKeyError",
    "KeyFileError",
    "generate_key_file",
    "key_id",
    "load_cipher",
    "load_key",
    "require_same_key",
]
