"""A :class:`sim.servers.history.HistoryBackend` over a historian's HTTP API.

With ``--history-from URL`` the plant servers (``twinbench sim serve``, the stress
plant) answer HistoryRead on their own variables from a historian — the way a
PLC/SCADA server with history behaves — instead of from the in-memory emitted log.
``URL`` is ``twinbench historian serve --http`` (``docs/api.md``); values come as
Arrow pages of ``GET /api/v1/tags/{name}/recorded`` (timestamps in ns, values as
float64 bits, quality as stored), followed through ``X-Next-Page-Token``.

The plant's series id maps to the tag's ISA-95 path, the name the historian knows
it by (the catalogue both sides share). The HTTP range is ``[start, end)``; the
backend asks for ``end + 1 ns`` because a HistoryRead end bound is inclusive here
(:class:`HistoryStorageAdapter`). Requests are blocking ``urllib`` calls, run in a
worker thread so the server's event loop keeps serving while a page is on its way.
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from asyncua import ua as _ua

from historian.model import PointBatch

ua: Any = _ua

ARROW = "application/vnd.apache.arrow.stream"
MAX_NS = 2**63 - 1
DEFAULT_PAGE = 100_000  # values per HTTP request (the API's default limit is larger)

__all__ = ["HistorianHttpHistory", "HistorianUnavailableError"]


class HistorianUnavailableError(ua.UaStatusCodeError):  # type: ignore[misc]
    """The historian did not answer; the client's HistoryRead gets Bad_NoCommunication."""

    def __init__(self, message: str) -> None:
        super().__init__(ua.StatusCodes.BadNoCommunication)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _iso(ns: int) -> str:
    """Nine fraction digits, UTC: the API keeps every one (docs/api.md, "Times")."""
    s, frac = divmod(int(ns), 1_000_000_000)
    text = str(np.datetime64(s, "s"))
    return f"{text}.{frac:09d}Z"


class HistorianHttpHistory:
    """Raw history of the plant's series, read from a running historian over HTTP."""

    def __init__(
        self,
        url: str,
        names: Mapping[int, str],
        *,
        page: int = DEFAULT_PAGE,
        timeout_s: float = 30.0,
    ) -> None:
        if page < 1:
            raise ValueError("page must be >= 1")
        self.url = url.rstrip("/")
        self.names = dict(names)
        self.page = page
        self.timeout_s = timeout_s
        self.requests = 0  # HTTP requests made (tests check paging with it)

    async def read_raw(self, series_id: int, start_ns: int, end_ns: int, limit: int) -> PointBatch:
        name = self.names.get(int(series_id))
        if name is None or end_ns < start_ns:
            return PointBatch.empty()
        return await asyncio.to_thread(self._read, name, series_id, start_ns, end_ns, limit)

    def _read(
        self, name: str, series_id: int, start_ns: int, end_ns: int, limit: int
    ) -> PointBatch:
        end_excl = min(int(end_ns), MAX_NS - 1) + 1
        path = f"{self.url}/api/v1/tags/{urllib.parse.quote(name, safe='')}/recorded"
        tables: list[pa.Table] = []
        got = 0
        token: str | None = None
        while True:
            want = self.page if not limit else min(self.page, limit - got)
            query = {"start": _iso(max(int(start_ns), 0)), "end": _iso(end_excl),
                     "max_count": want}  # fmt: skip
            if token:
                query["page_token"] = token
            answer = self._get(f"{path}?{urllib.parse.urlencode(query)}")
            if answer is None:  # the historian does not know the tag: no history
                return PointBatch.empty()
            body, token = answer
            t = pa.ipc.open_stream(body).read_all()
            tables.append(t)
            got += t.num_rows
            if not token or (limit and got >= limit):
                break
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        n = table.num_rows
        if n == 0:
            return PointBatch.empty()
        ts = pc.cast(table["timestamp"], pa.timestamp("ns")).cast(pa.int64()).to_numpy()
        values = table["value"].to_numpy(zero_copy_only=False)
        quality = table["quality"].cast(pa.uint16()).to_numpy(zero_copy_only=False)
        return PointBatch.from_arrays(np.full(n, series_id), ts, values, quality, is_sorted=True)

    def _get(self, url: str) -> tuple[bytes, str | None] | None:
        """Body and next-page token; None for 404 (a tag the historian's catalogue lacks)."""
        self.requests += 1
        req = urllib.request.Request(url, headers={"Accept": ARROW})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as r:
                return r.read(), r.headers.get("X-Next-Page-Token") or None
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise HistorianUnavailableError(
                f"historian {self.url}: HTTP {exc.code} {exc.read()[:300]!r}"
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            raise HistorianUnavailableError(
                f"historian {self.url} is not reachable: {exc}"
            ) from None
