"""Exceptions raised by the chunk codecs.

Corrupt input always raises a :class:`ChunkCorruptError` subclass (never wrong
data); bad *arguments* to the encoder raise ``ValueError`` subclasses.
"""

from __future__ import annotations

from historian.errors import BatchValidationError, CorruptDataError, HistorianError


class ChunkCorruptError(CorruptDataError):
    """Chunk bytes failed a checksum or a structural check; nothing was decoded.

    Re-read the chunk from a replica / the WAL, or drop the segment holding it.
    """


class ChunkTruncatedError(ChunkCorruptError):
    """The buffer is shorter than the chunk header says (torn write or short read)."""


class ChunkChecksumError(ChunkCorruptError):
    """A CRC32C over the header or the payload does not match (bit rot or a torn write)."""


class UnsortedTimestampsError(BatchValidationError):
    """Timestamps go backwards; sort (and de-duplicate) the series before encoding."""


class UnknownCodecError(HistorianError, ValueError):
    """No codec has this name or one-byte id; see ``historian.codec.CODECS``."""


class CodecNotApplicableError(HistorianError, ValueError):
    """The requested codec cannot represent these values (e.g. ``const`` on varying data).

    Pass ``codec=None`` to let the adaptive chooser pick one that can.
    """
