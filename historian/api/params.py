"""Reading request parameters: each failure is a 400 that says what was expected.

The same readers serve query strings (``GET /api/v1/tags/{name}/...``) and the
JSON objects of ``POST /api/v1/streams/query``, so both take the same spellings
and give the same messages. Limits (:class:`~historian.api.health.ApiLimits`)
are checked here too: over a limit is 413 with the limit in the answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from historian.api.errors import ApiError, bad_request
from historian.api.health import ApiLimits
from historian.api.times import (
    INTERVAL_EXPECTED,
    TimeFormatError,
    parse_interval,
    parse_time,
)
from historian.query.summary import SUMMARY_TYPES

__all__ = [
    "DEFAULT_END",
    "DEFAULT_START",
    "DEFAULT_SUMMARY_TYPES",
    "Params",
    "too_large",
]

DEFAULT_START = "*-1h"
DEFAULT_END = "*"
DEFAULT_PLOT_INTERVALS = 1_000
DEFAULT_SUMMARY_TYPES = ("average", "minimum", "maximum", "count")
BOUNDARIES = ("inside", "outside", "interpolated")
WEIGHTINGS = ("time", "event")


def too_large(what: str, limit: int, hint: str) -> ApiError:
    return ApiError(413, "too_large", f"{what} exceeds the limit of {limit:,}; {hint}", limit=limit)


@dataclass(frozen=True)
class Params:
    """Typed access to one request's parameters (a query string or a JSON object)."""

    raw: Mapping[str, Any]
    limits: ApiLimits
    now_ns: int
    multi: Mapping[str, Sequence[str]] | None = None
    """Every value of repeated keys (``time=...&time=...``) for a query string."""

    def text(self, key: str, default: str | None = None) -> str:
        value = self.raw.get(key, default)
        if value is None:
            raise bad_request(f"parameter {key!r} is required")
        if not isinstance(value, str):
            raise bad_request(f"parameter {key!r} must be a string, got {type(value).__name__}")
        return value

    def time(self, key: str, default: str | None = None) -> int:
        text = self.text(key, default)
        try:
            return parse_time(text, now_ns=self.now_ns)
        except TimeFormatError as exc:
            raise bad_request(f"parameter {key!r}: {exc}") from None

    def range(self) -> tuple[int, int]:
        return self.time("start", DEFAULT_START), self.time("end", DEFAULT_END)

    def forward_range(self) -> tuple[int, int]:
        start, end = self.range()
        if end <= start:
            raise bad_request(
                f"end must be after start for this query (start {self.raw.get('start')!r}, "
                f"end {self.raw.get('end', DEFAULT_END)!r})"
            )
        return start, end

    def interval(self, key: str = "interval") -> int:
        if self.raw.get(key) is None:
            raise bad_request(f"parameter {key!r} is required: {INTERVAL_EXPECTED}")
        try:
            return parse_interval(self.text(key))
        except TimeFormatError as exc:
            raise bad_request(f"parameter {key!r}: {exc}") from None

    def integer(self, key: str, default: int | None = None, *, minimum: int = 1) -> int | None:
        value = self.raw.get(key)
        if value is None:
            return default
        if isinstance(value, bool):
            raise bad_request(f"parameter {key!r} must be an integer >= {minimum}")
        try:
            number = int(value, 10) if isinstance(value, str) else value
        except ValueError:
            raise bad_request(
                f"parameter {key!r} must be an integer >= {minimum}, got {value!r}"
            ) from None
        if not isinstance(number, int) or number < minimum:
            raise bad_request(f"parameter {key!r} must be an integer >= {minimum}, got {value!r}")
        return number

    def choice(self, key: str, choices: Sequence[str], default: str) -> str:
        value = self.text(key, default)
        if value not in choices:
            raise bad_request(
                f"parameter {key!r} must be one of {', '.join(choices)}; got {value!r}"
            )
        return value

    def times(self, key: str = "time") -> list[int]:
        if self.multi is not None:
            texts: Sequence[Any] = self.multi.get(key, ())
        else:
            value = self.raw.get(key, ())
            texts = [value] if isinstance(value, str) else value
        if not isinstance(texts, list | tuple) or not texts:
            raise bad_request(f"parameter {key!r} is required: give one or more times")
        if len(texts) > self.limits.max_times:
            raise too_large(f"{len(texts):,} times", self.limits.max_times, "split the request")
        out = []
        for t in texts:
            if not isinstance(t, str):
                raise bad_request(f"parameter {key!r} must hold time strings")
            try:
                out.append(parse_time(t, now_ns=self.now_ns))
            except TimeFormatError as exc:
                raise bad_request(f"parameter {key!r}: {exc}") from None
        return out

    def summary_types(self) -> list[str]:
        value = self.raw.get("types")
        if value is None:
            return list(DEFAULT_SUMMARY_TYPES)
        names = value.split(",") if isinstance(value, str) else value
        if not isinstance(names, list | tuple):
            raise bad_request("parameter 'types' must be a comma-separated list")
        names = [str(n).strip() for n in names if str(n).strip()]
        unknown = [n for n in names if n not in SUMMARY_TYPES]
        if unknown or not names:
            raise bad_request(
                f"parameter 'types': unknown summary type(s) {unknown}; choose from "
                + ", ".join(SUMMARY_TYPES)
            )
        return list(dict.fromkeys(names))

    def count_intervals(self, start: int, end: int, interval: int, limit: int, what: str) -> int:
        n = -(-abs(end - start) // interval)
        if n > limit:
            raise too_large(
                f"{what} of {n:,} intervals", limit, "ask for a longer interval or a shorter range"
            )
        return n
