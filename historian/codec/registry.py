"""The codec registry: every codec with its stable one-byte id.

Ids are written into chunk headers, so they never change meaning once
released; retired ids are never reused. Ranges: ``0x01-0x0F`` timestamps,
``0x10-0x1F`` values, ``0x20-0x2F`` quality.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from historian.codec import decimal, gorilla, levels, scaled, scaled_ac, simple, timestamps
from historian.codec.errors import UnknownCodecError

Kind = Literal["timestamps", "values", "quality"]


@dataclass(frozen=True, slots=True)
class TimestampCodec:
    id: int
    name: str
    encode: Callable[[NDArray[np.int64]], bytes | None]
    decode: Callable[[bytes | memoryview, int, int, int], NDArray[np.int64]]
    kind: Kind = "timestamps"


@dataclass(frozen=True, slots=True)
class ValueCodec:
    """``encode`` returns ``None`` when the codec cannot represent the values."""

    id: int
    name: str
    encode: Callable[[NDArray[np.float64]], bytes | None]
    decode: Callable[[bytes | memoryview, int], NDArray[np.float64]]
    kind: Kind = "values"


@dataclass(frozen=True, slots=True)
class QualityCodec:
    id: int
    name: str
    encode: Callable[[NDArray[np.uint16]], bytes | None]
    decode: Callable[[bytes | memoryview, int], NDArray[np.uint16]]
    kind: Kind = "quality"


Codec = TimestampCodec | ValueCodec | QualityCodec

TIMESTAMP_CODECS: tuple[TimestampCodec, ...] = (
    TimestampCodec(0x01, "ts-dod", timestamps.dod_encode, timestamps.dod_decode),
    TimestampCodec(0x02, "ts-delta-pco", timestamps.delta_pco_encode, timestamps.delta_pco_decode),
    TimestampCodec(0x03, "ts-grid", timestamps.grid_encode, timestamps.grid_decode),
)
VALUE_CODECS: tuple[ValueCodec, ...] = (
    ValueCodec(0x10, "raw", simple.raw_encode, simple.raw_decode),
    ValueCodec(0x11, "gorilla", gorilla.gorilla_encode, gorilla.gorilla_decode),
    ValueCodec(0x12, "decimal", decimal.decimal_encode, decimal.decimal_decode),
    ValueCodec(0x13, "pco", simple.pco_encode, simple.pco_decode),
    ValueCodec(0x14, "const", simple.const_encode, simple.const_decode),
    ValueCodec(0x15, "rle", simple.rle_encode, simple.rle_decode),
    ValueCodec(0x16, "scaled", scaled.scaled_encode, scaled.scaled_decode),
    ValueCodec(0x17, "scaled-ac", scaled_ac.scaled_ac_encode, scaled_ac.scaled_ac_decode),
    ValueCodec(0x18, "levels", levels.levels_encode, levels.levels_decode),
)
QUALITY_CODECS: tuple[QualityCodec, ...] = (
    QualityCodec(0x20, "q-const", simple.quality_const_encode, simple.quality_const_decode),
    QualityCodec(0x21, "q-rle", simple.quality_rle_encode, simple.quality_rle_decode),
)

_ALL: tuple[Codec, ...] = (*TIMESTAMP_CODECS, *VALUE_CODECS, *QUALITY_CODECS)
CODECS: dict[str, Codec] = {c.name: c for c in _ALL}
CODECS_BY_ID: dict[int, Codec] = {c.id: c for c in CODECS.values()}
VALUE_CODEC_NAMES: tuple[str, ...] = tuple(c.name for c in VALUE_CODECS)


def value_codec(key: str | int) -> ValueCodec:
    codec = CODECS.get(key) if isinstance(key, str) else CODECS_BY_ID.get(int(key))
    if not isinstance(codec, ValueCodec):
        names = ", ".join(VALUE_CODEC_NAMES)
        raise UnknownCodecError(f"{key!r} is not a value codec; choose one of: {names}")
    return codec


def codec_by_id(codec_id: int, kind: type[Codec]) -> Codec:
    codec = CODECS_BY_ID.get(codec_id)
    if not isinstance(codec, kind):
        from historian.codec.errors import ChunkCorruptError

        raise ChunkCorruptError(f"header names unknown {kind.__name__} id 0x{codec_id:02x}")
    return codec
