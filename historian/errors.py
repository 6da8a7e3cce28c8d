"""Every exception the historian raises on purpose.

Each class names one failure; each message says what went wrong and what to do.
Callers catch :class:`HistorianError` for "anything the historian refused".
"""

from __future__ import annotations


class HistorianError(Exception):
    """Base class of every error the historian raises deliberately."""


class BatchValidationError(HistorianError, ValueError):
    """A point batch is malformed (length mismatch, bad dtype, NaN where forbidden, ...).

    Nothing from the batch was applied.
    """


class UnknownSeriesError(BatchValidationError):
    """A batch names a series id or tag path the catalogue does not know."""


class TimestampOutOfWindowError(BatchValidationError):
    """A point is older or newer than the engine's accepted write window."""


class CorruptDataError(HistorianError):
    """Bytes on disk or on the wire failed a checksum or a structural check.

    Raised instead of returning possibly wrong data.
    """


class OverloadedError(HistorianError):
    """The engine is applying backpressure: retry later or slow down the writer."""


class DiskFullError(HistorianError, OSError):
    """The file system has no space left; the database stays readable."""


class ClosedError(HistorianError):
    """The database or component was used after close()."""


class InputFormatError(HistorianError, ValueError):
    """An import file is malformed; ``str()`` is ``FILE:LINE:COLUMN: what is wrong and what to do``.

    ``line`` and ``column`` are 1-based (0 when the problem is the whole file). Nothing
    from the import was written.
    """

    def __init__(self, path: str, line: int, column: int, why: str) -> None:
        where = f"{path}:{line}:{column}" if line else path
        super().__init__(f"{where}: {why}")
        self.path = path
        self.line = line
        self.column = column
        self.why = why


class CatalogueError(HistorianError, ValueError):
    """A tag catalogue (TOML or the store's persisted copy) is malformed or conflicts.

    The message has the form ``tag '<path>' field '<field>': <what is wrong and what to do>``.
    """
