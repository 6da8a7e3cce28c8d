"""AES-256-GCM over one block: ``nonce (12) | ciphertext | tag (16)``.

Nonces are 96 random bits per block (``os.urandom``). With random nonces the risk
is a collision under one key, which would leak the XOR of two plaintexts and allow
forgeries; NIST SP 800-38D caps random-nonce use at 2**32 blocks per key, where the
collision probability is about n**2 / 2**97 = 2**-33. Our block counts are far
below that: a WAL record per ~1,000-point batch at 1 M points/s is 1,000 blocks/s,
and flush plus compaction rewrite each point about three times in chunks of up to
4,096 points, so even 10,000 blocks/s takes 13 years to reach 2**32. Rotate the
key long before that (docs/format/segment.md, "Encryption"). Deriving nonces from
(file, block) would need a per-key counter that survives crashes, copies and
repairs; random nonces need no state.

>>> c = BlockCipher(bytes(range(32)))
>>> sealed = c.encrypt(b"plain", b"where")
>>> len(sealed) == 5 + BLOCK_OVERHEAD, c.decrypt(sealed, b"where")
(True, b'plain')
>>> c.decrypt(sealed, b"elsewhere")
Traceback (most recent call last):
...
historian.crypto.cipher.BlockAuthenticationError: block failed AES-GCM authentication
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from historian.errors import CorruptDataError

NONCE_BYTES = 12
TAG_BYTES = 16
BLOCK_OVERHEAD = NONCE_BYTES + TAG_BYTES
"""Bytes an encrypted block has beyond its plaintext."""
CIPHER_AES_256_GCM = 1
"""Cipher id stored in encrypted file headers."""
KEY_ID_BYTES = 8


class BlockAuthenticationError(CorruptDataError):
    """A block's GCM tag did not verify: damaged, tampered with, or moved from elsewhere."""


class BlockCipher:
    """Seals and opens blocks under one 256-bit key; ``key_id`` names the key in file headers."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError(f"an AES-256 key is 32 bytes, got {len(key)}")
        try:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        except ImportError as exc:  # the core install has no cryptography
            raise ImportError(
                "encryption at rest needs the `cryptography` package: "
                "pip install 'twinbench[server]'"
            ) from exc
        self._aead: Any = AESGCM(key)
        self.key_id: bytes = hashlib.sha256(key).digest()[:KEY_ID_BYTES]
        """First 8 bytes of SHA-256(key): tells keys apart, reveals nothing of a random key."""

    def encrypt(self, plaintext: bytes | memoryview, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + bytes(self._aead.encrypt(nonce, plaintext, aad))

    def decrypt(self, block: bytes | memoryview, aad: bytes) -> bytes:
        """The plaintext; raises :class:`BlockAuthenticationError` unless the tag verifies."""
        from cryptography.exceptions import InvalidTag

        if len(block) < BLOCK_OVERHEAD:
            raise BlockAuthenticationError(
                f"encrypted block of {len(block)} bytes is shorter than nonce + tag"
            )
        view = memoryview(block)
        try:
            return bytes(self._aead.decrypt(view[:NONCE_BYTES], view[NONCE_BYTES:], aad))
        except InvalidTag:
            raise BlockAuthenticationError("block failed AES-GCM authentication") from None

    @property
    def key_id_hex(self) -> str:
        return self.key_id.hex()
