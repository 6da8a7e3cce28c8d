"""Query routing across partitioned historian processes (``serve --node``).

Each process's store holds only the series of the partitions it owned, for the
time it owned them. A tag's partition is its publishing collector's
(``crc32c(source_id) % partitions``, historian.bus.subjects), which the API
does not know from the tag's name, so the routing table is the assignment
table's ``holders`` (historian.server.assignment): the nodes that own or ever
owned a partition, each with its HTTP base URL from its heartbeat. A JSON
``recorded`` or ``last`` query for a tag at any process is forwarded to every
holder (itself included, over HTTP, marked with :data:`ROUTED_HEADER` so the
holder answers from its own store) and the answers are merged:

- ``recorded``: the union of the items, in timestamp order; a timestamp held by
  two stores (cannot happen with a clean handover) is given once, the answer of
  the later holder winning (last write wins, as in one store);
- ``last``: the item with the newest timestamp.

A holder that does not know the tag (404) contributes nothing; if none knows it
the first 404 is returned. A holder that cannot be reached is a 503 naming it:
an answer missing a store's share would look complete but not be. Routed
answers do not page: a holder that needs a next page makes the answer a 413
("narrow the range"). Arrow answers and the other query kinds are answered from
the process's own store.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from historian.api.errors import ApiError

ROUTED_KINDS = ("recorded", "last")
ROUTED_HEADER = "X-Twinbench-Routed"
FORWARD_TIMEOUT_S = 10.0

HolderUrls = Callable[[], Mapping[str, str | None]]
"""Node -> HTTP base URL (None: no live heartbeat) of every holder of partition data."""


class QueryRouter:
    """Forwards and merges tag queries over the holders (see the module docstring)."""

    def __init__(self, holders: HolderUrls) -> None:
        self._holders = holders

    def routes(self, kind: str, request: Request, arrow: bool) -> bool:
        return kind in ROUTED_KINDS and not arrow and ROUTED_HEADER not in request.headers

    async def answer(self, kind: str, request: Request) -> Response:
        holders = dict(self._holders())
        if not holders:
            raise ApiError(503, "unavailable", "no process owns a partition yet; retry shortly")
        gone = sorted(n for n, url in holders.items() if url is None)
        if gone:
            raise ApiError(503, "unavailable", f"partition holder(s) {', '.join(gone)} not running")
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        headers = {ROUTED_HEADER: "1", "Accept": "application/json"}
        auth = request.headers.get("authorization")
        if auth is not None:
            headers["Authorization"] = auth
        nodes = list(holders)
        answers = await asyncio.gather(
            *(asyncio.to_thread(_get, str(holders[n]) + path, headers) for n in nodes)
        )
        return merge(kind, list(zip(nodes, answers, strict=True)))


def _get(url: str, headers: dict[str, str]) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=FORWARD_TIMEOUT_S) as r:
            return int(r.status), bytes(r.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read())
    except OSError as exc:
        return 0, str(exc).encode()


def merge(kind: str, answers: list[tuple[str, tuple[int, bytes]]]) -> Response:
    """One JSON answer from the holders' answers, in holder order (oldest first)."""
    found: list[dict[str, Any]] = []
    not_found: bytes | None = None
    for node, (status, body) in answers:
        if status == 200:
            found.append(json.loads(body))
        elif status == 404:
            not_found = not_found or body
        elif status == 0:
            raise ApiError(503, "unavailable", f"partition holder {node} unreachable: {body!r}")
        else:  # the holder's own error (400, 413, 401, ...) is the answer's
            return Response(body, status_code=status, media_type="application/json")
    if not found:
        assert not_found is not None
        return Response(not_found, status_code=404, media_type="application/json")
    if any("next_page_token" in f for f in found):
        raise ApiError(413, "too_large", "a routed recorded query does not page; narrow the range")
    merged = dict(found[0])
    by_time: dict[str, Any] = {}
    for f in found:  # later holders win a shared timestamp
        for item in f.get("items", []):
            by_time[item["timestamp"]] = item
    items = [by_time[t] for t in sorted(by_time)]
    merged["items"] = items[-1:] if kind == "last" else items
    return Response(json.dumps(merged).encode(), media_type="application/json")
