"""Exceptions the plant twin raises on purpose; servers map them to protocol errors."""

from __future__ import annotations


class SimError(Exception):
    """Base class of deliberate twin errors."""


class UnknownTagError(SimError, KeyError):
    """A write or action names a tag (path, id or well) this twin does not have."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class NotWritableError(SimError):
    """A write targets a measurement; only tags with ``writable = true`` accept writes."""


class SetpointOutOfRangeError(SimError, ValueError):
    """A setpoint is NaN or outside the tag's [low, high] range."""


class UnsupportedCatalogueError(SimError, ValueError):
    """The catalogue has tags this twin has no model for."""
