"""Fault modes of the TCP proxy (value objects) and its counters."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Bandwidth",
    "Blackhole",
    "FaultMode",
    "Latency",
    "Pass",
    "ProxyStats",
    "Refuse",
    "Reset",
    "SlowClose",
    "Stall",
    "coerce_mode",
]


@dataclass(frozen=True)
class Pass:
    pass


@dataclass(frozen=True)
class Latency:
    delay_s: float
    jitter_s: float = 0.0


@dataclass(frozen=True)
class Bandwidth:
    bytes_per_s: float


@dataclass(frozen=True)
class Blackhole:
    pass


@dataclass(frozen=True)
class Stall:
    pass


@dataclass(frozen=True)
class Reset:
    pass


@dataclass(frozen=True)
class Refuse:
    pass


@dataclass(frozen=True)
class SlowClose:
    delay_s: float


FaultMode = Pass | Latency | Bandwidth | Blackhole | Stall | Reset | Refuse | SlowClose
_BY_NAME: dict[str, FaultMode] = {
    "pass": Pass(),
    "blackhole": Blackhole(),
    "stall": Stall(),
    "reset": Reset(),
    "refuse": Refuse(),
}


def coerce_mode(mode: FaultMode | str) -> FaultMode:
    if isinstance(mode, str):
        try:
            return _BY_NAME[mode]
        except KeyError:
            raise ValueError(
                f"unknown fault mode {mode!r}; names: {sorted(_BY_NAME)}, or pass a "
                "Latency/Bandwidth/SlowClose instance"
            ) from None
    if isinstance(mode, Latency) and (mode.delay_s < 0 or mode.jitter_s < 0):
        raise ValueError(f"latency and jitter must be >= 0: {mode}")
    if isinstance(mode, Bandwidth) and mode.bytes_per_s <= 0:
        raise ValueError(f"bandwidth must be > 0 bytes/s: {mode}")
    if isinstance(mode, SlowClose) and mode.delay_s < 0:
        raise ValueError(f"slow-close delay must be >= 0: {mode}")
    return mode


@dataclass
class ProxyStats:
    accepted: int = 0
    refused: int = 0
    reset: int = 0
    bytes_forwarded: int = 0
    bytes_dropped: int = 0
