"""Talking to a JetStream cluster: server lists, stream creation through elections, leaders.

A component is told its bus as one string (a command-line flag, a config value);
on a cluster that string lists every node, comma-separated. nats-py takes a
*list* of servers and treats a comma-separated string as one bad URL, so
:func:`server_list` splits it; the client then fails over between the nodes by
itself (reconnect picks the next URL of its pool).

While a cluster elects a meta leader or a stream leader (a node was killed,
the cluster just started), JetStream API requests answer "no responders",
time out, or fail with 503 / "JetStream system temporarily unavailable".
:func:`create_stream_if_missing` keeps asking until a deadline: a publisher
that creates its stream (so it can publish before the historian ever ran)
must not give up on the first election it meets. It creates, and never
updates, a stream: the stream's limits and replica count belong to whoever
deployed the stream (the historian server, ``--replicas``), and two components
with different options must not fight over them.
"""

from __future__ import annotations

import asyncio
import time

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import StreamConfig, StreamInfo

from historian.bus.options import BusOptions
from historian.bus.stream import dead_letter_stream_config, stream_config

__all__ = [
    "ELECTION_ERRORS",
    "create_stream_if_missing",
    "server_list",
    "stream_leader",
]

ELECTION_ERRORS: tuple[type[BaseException], ...] = (
    asyncio.TimeoutError,
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.ConnectionClosedError,
    nats.errors.StaleConnectionError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
)
"""What a JetStream request may fail with while a leader is being elected (retry it)."""


def server_list(urls: str | list[str]) -> list[str]:
    """The server URLs in ``urls`` (comma-separated, or already a list), blanks dropped.

    >>> server_list("nats://127.0.0.1:4222, nats://127.0.0.1:4223")
    ['nats://127.0.0.1:4222', 'nats://127.0.0.1:4223']
    """
    parts = urls.split(",") if isinstance(urls, str) else urls
    out = [u.strip() for u in parts if u.strip()]
    if not out:
        raise ValueError(f"no NATS server URL in {urls!r}; give nats://HOST:PORT[,nats://...]")
    return out


def _is_election_error(exc: BaseException) -> bool:
    if isinstance(exc, ELECTION_ERRORS):
        return True
    # 10008 "JetStream system temporarily unavailable", 10023 "insufficient resources"
    # (fewer peers up than replicas, e.g. a node still restarting) are plain APIErrors;
    # 10074 "replicas > 1 not supported in non-clustered mode" is a config error, not these
    return isinstance(exc, nats.js.errors.APIError) and exc.err_code in (10008, 10023)


async def _create_one(js: JetStreamContext, name: str, create: StreamConfig) -> StreamInfo:
    try:
        return await js.stream_info(name)
    except nats.js.errors.NotFoundError:
        pass
    try:
        return await js.add_stream(create)
    except nats.js.errors.BadRequestError as exc:
        if exc.err_code == 10058:  # "stream name already in use": created meanwhile
            return await js.stream_info(name)
        raise


async def create_stream_if_missing(
    js: JetStreamContext, opts: BusOptions, *, timeout_s: float = 60.0
) -> StreamInfo:
    """The batch stream (and its dead-letter stream), created with ``opts`` if missing.

    Retries through leader elections until ``timeout_s``; then re-raises the last
    election error. Any other error (a config the server refuses) raises at once.
    """
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        try:
            await _create_one(js, f"{opts.stream}_DLQ", dead_letter_stream_config(opts))
            info = await _create_one(js, opts.stream, stream_config(opts))
            return info
        except Exception as exc:
            if not _is_election_error(exc) or time.monotonic() + delay > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)


async def stream_leader(js: JetStreamContext, stream: str) -> str | None:
    """The server name of ``stream``'s leader (a single node leads alone; None: electing)."""
    info = await js.stream_info(stream)
    return info.cluster.leader if info.cluster is not None else None
