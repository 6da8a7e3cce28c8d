"""Tag values <-> Modbus words, and the register layout of a catalogue (pure functions).

Encodings (see ``docs/catalogue-format.md``): ``float32`` is IEEE 754 single in two
registers, bytes big-endian inside each register, word order per tag (``big`` =
high word at the lower address); ``int16_scaled`` is one signed register with
``value = raw * scale + offset``; ``bit`` is one coil or discrete input.

>>> encode_float32(np.array([1.0]), np.array([True])).tolist()
[[16256, 0]]
>>> decode_float32(np.array([[0, 16256]]), np.array([False])).tolist()
[1.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sim.tags import Tag

FloatArray = NDArray[np.float64]
U16 = NDArray[np.uint16]
TABLES = ("coil", "discrete", "holding", "input")


def encode_float32(values: FloatArray, big_word_first: NDArray[np.bool_]) -> U16:
    """Shape (n, 2): the two registers per value, in address order."""
    words = np.asarray(values, dtype=">f4").view(">u2").reshape(-1, 2).astype(np.uint16)
    swap = ~np.asarray(big_word_first, dtype=bool)
    words[swap] = words[swap][:, ::-1]
    return words


def decode_float32(words: NDArray[np.integer], big_word_first: NDArray[np.bool_]) -> FloatArray:
    w = np.array(words, dtype=np.uint16).reshape(-1, 2)
    swap = ~np.asarray(big_word_first, dtype=bool)
    w[swap] = w[swap][:, ::-1]
    return w.astype(">u2").view(">f4").reshape(-1).astype(np.float64)


def encode_int16_scaled(values: FloatArray, scale: FloatArray, offset: FloatArray) -> U16:
    raw = np.clip(np.round((np.asarray(values) - offset) / scale), -32768, 32767)
    return raw.astype(np.int16).view(np.uint16)


def decode_int16_scaled(
    words: NDArray[np.integer], scale: FloatArray, offset: FloatArray
) -> FloatArray:
    raw = np.asarray(words, dtype=np.uint16).view(np.int16).astype(np.float64)
    return raw * scale + offset


@dataclass(frozen=True)
class TableLayout:
    """The tags of one (unit id, table): where their registers are and how to fill them.

    ``lo..hi`` (inclusive) is the readable address range; registers inside it that
    no tag owns read as 0 and refuse writes.
    """

    unit_id: int
    table: str
    tag_index: NDArray[np.int64]  # into the catalogue order
    address: NDArray[np.int64]
    float_mask: NDArray[np.bool_]
    big_word_first: NDArray[np.bool_]
    scale: FloatArray
    offset: FloatArray
    lo: int
    hi: int
    owner: dict[int, int]  # register/bit address -> position in tag_index
    writable: NDArray[np.bool_]

    @property
    def bits(self) -> bool:
        return self.table in ("coil", "discrete")

    def image(self, values: FloatArray) -> list[int] | list[bool]:
        """Every register (or bit) from ``lo`` to ``hi`` for the catalogue-ordered ``values``."""
        v = values[self.tag_index]
        if self.bits:
            img_b = np.zeros(self.hi - self.lo + 1, dtype=bool)
            img_b[self.address - self.lo] = v != 0
            return img_b.tolist()
        img = np.zeros(self.hi - self.lo + 1, dtype=np.uint16)
        f = self.float_mask
        if f.any():
            words = encode_float32(v[f], self.big_word_first[f])
            base = self.address[f] - self.lo
            img[base] = words[:, 0]
            img[base + 1] = words[:, 1]
        s = ~f
        if s.any():
            img[self.address[s] - self.lo] = encode_int16_scaled(
                v[s], self.scale[s], self.offset[s]
            )
        return img.tolist()

    def words_of(self, pos: int, value: float) -> list[int] | list[bool]:
        """The register(s) of the tag at ``pos`` holding ``value``."""
        if self.bits:
            return [bool(value)]
        v = np.array([value])
        if self.float_mask[pos]:
            words: list[int] = encode_float32(v, self.big_word_first[pos : pos + 1])[0].tolist()
            return words
        raw = encode_int16_scaled(v, self.scale[pos : pos + 1], self.offset[pos : pos + 1])
        return [int(r) for r in raw]

    def decode(self, pos: int, words: Sequence[int] | Sequence[bool]) -> float:
        if self.bits:
            return 1.0 if words[0] else 0.0
        w = np.array([int(x) for x in words])
        if self.float_mask[pos]:
            return float(decode_float32(w, self.big_word_first[pos : pos + 1])[0])
        return float(
            decode_int16_scaled(w, self.scale[pos : pos + 1], self.offset[pos : pos + 1])[0]
        )

    def width(self, pos: int) -> int:
        return 2 if self.float_mask[pos] else 1


def layouts(tags: Sequence[Tag]) -> dict[tuple[int, str], TableLayout]:
    """One :class:`TableLayout` per (unit id, table) present in ``tags``."""
    groups: dict[tuple[int, str], list[int]] = {}
    for i, t in enumerate(tags):
        groups.setdefault((t.modbus.unit_id, t.modbus.table), []).append(i)
    out: dict[tuple[int, str], TableLayout] = {}
    for (unit, table), idx in sorted(groups.items()):
        ts = [tags[i] for i in idx]
        addr = np.array([t.modbus.address for t in ts], dtype=np.int64)
        width = np.array([t.modbus.register_count for t in ts])
        owner = {
            int(a) + k: p
            for p, (a, w) in enumerate(zip(addr, width, strict=True))
            for k in range(w)
        }
        out[(unit, table)] = TableLayout(
            unit_id=unit,
            table=table,
            tag_index=np.array(idx, dtype=np.int64),
            address=addr,
            float_mask=np.array([t.modbus.encoding == "float32" for t in ts]),
            big_word_first=np.array([t.modbus.word_order == "big" for t in ts]),
            scale=np.array([t.modbus.scale for t in ts]),
            offset=np.array([t.modbus.offset for t in ts]),
            lo=int(addr.min()),
            hi=int((addr + width - 1).max()),
            owner=owner,
            writable=np.array([t.writable for t in ts]),
        )
    return out


class Representation:
    """Rounds engineering values to what each tag's Modbus encoding can hold.

    Applied by every tick source, so Modbus and OPC UA clients and the emitted
    log all carry the same numbers.
    """

    def __init__(self, tags: Sequence[Tag]) -> None:
        self.f32 = np.array([t.modbus.encoding == "float32" for t in tags], dtype=bool)
        self.scaled = np.array([t.modbus.encoding == "int16_scaled" for t in tags], dtype=bool)
        self.bit = np.array([t.modbus.encoding == "bit" for t in tags], dtype=bool)
        self.scale = np.array([t.modbus.scale for t in tags])[self.scaled]
        self.offset = np.array([t.modbus.offset for t in tags])[self.scaled]

    def apply(self, v: FloatArray) -> FloatArray:
        out = np.array(v, dtype=np.float64)
        out[self.f32] = out[self.f32].astype(np.float32).astype(np.float64)
        s = self.scaled
        raw = np.clip(np.round((out[s] - self.offset) / self.scale), -32768, 32767)
        out[s] = raw * self.scale + self.offset
        out[self.bit] = (np.round(out[self.bit]) != 0).astype(np.float64)
        return out

    def apply_to(self, v: FloatArray, tag_index: NDArray[np.int64]) -> FloatArray:
        """Like :meth:`apply` for values of mixed tags (``tag_index`` per value)."""
        out = np.array(v, dtype=np.float64)
        f = self.f32[tag_index]
        out[f] = out[f].astype(np.float32).astype(np.float64)
        scaled_pos = np.cumsum(self.scaled) - 1  # tag index -> position in scale/offset
        s = self.scaled[tag_index]
        k = scaled_pos[tag_index[s]]
        raw = np.clip(np.round((out[s] - self.offset[k]) / self.scale[k]), -32768, 32767)
        out[s] = raw * self.scale[k] + self.offset[k]
        b = self.bit[tag_index]
        out[b] = (np.round(out[b]) != 0).astype(np.float64)
        return out
