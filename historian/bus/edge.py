"""Edge leaf nodes: the leaf's own batch stream, and the hub stream that sources it.

At a site, collectors publish to a local *leaf* nats-server that runs its own
JetStream in its own domain (``jetstream { domain: edge }``) and holds its own
copy of the batch stream (same name, same subjects, :func:`leaf_stream_config`).
The leaf acknowledges a batch once it is in *its* stream, so a cut of the
site's link to the hub costs the collectors nothing: no retries, no spool.

The hub's batch stream *sources* each leaf's stream through the leaf's domain
API (``$JS.<domain>.API``, :func:`edge_source`). nats-server drives the sourcing
itself: it keeps a consumer on the leaf, remembers the last leaf sequence it
stored (in each sourced message's ``Nats-Stream-Source`` header) and, after a
link cut, re-creates the consumer from the next sequence; so the backlog drains
once, in order. Sourced messages keep their headers and subject, so the hub's
``Nats-Msg-Id`` duplicate window and the historian's per-partition consumers
(``filter_subject``) work on them as on direct publishes.

Who sets the sources: the deployment (here :func:`ensure_sourced_stream`);
:func:`historian.bus.stream.ensure_stream` (run by every ingest worker) keeps
the sources it finds, so a historian restart never unhooks a site.
"""

from __future__ import annotations

import dataclasses

from nats.js import JetStreamContext
from nats.js.api import ExternalStream, StreamConfig, StreamInfo, StreamSource
from nats.js.errors import NotFoundError

from historian.bus.options import BusOptions
from historian.bus.stream import ensure_streams, stream_config

__all__ = [
    "DEFAULT_EDGE_DOMAIN",
    "domain_api",
    "edge_source",
    "ensure_leaf_streams",
    "ensure_sourced_stream",
    "leaf_stream_config",
    "restart_sources",
    "source_lag",
    "sourced_stream_config",
]

DEFAULT_EDGE_DOMAIN = "edge"


def domain_api(domain: str) -> str:
    """The JetStream API prefix of ``domain`` as seen from another domain.

    >>> domain_api("edge")
    '$JS.edge.API'
    """
    if not domain or any(c in domain for c in ".*> \t"):
        raise ValueError(f"JetStream domain {domain!r} must be one token without '.', '*', '>'")
    return f"$JS.{domain}.API"


def leaf_stream_config(opts: BusOptions) -> StreamConfig:
    """The leaf's batch stream: the hub's name, subjects and limits, one replica.

    Same name and subjects, so a collector talks to its leaf exactly as it would
    to the hub (it may even create the stream itself); one replica, since a leaf is
    one server. Its ``max_bytes`` is the site's buffer: beyond it the leaf refuses
    batches (discard=new) and the collectors spool them to disk.
    """
    return dataclasses.replace(stream_config(opts), num_replicas=1)


async def ensure_leaf_streams(js: JetStreamContext, opts: BusOptions) -> StreamInfo:
    """The batch stream and its dead-letter stream on the leaf (``js`` on the leaf)."""
    return await ensure_streams(js, dataclasses.replace(opts, replicas=1))


def edge_source(domain: str, opts: BusOptions) -> StreamSource:
    """The ``sources`` entry that pulls the batch stream of the leaf in ``domain``."""
    return StreamSource(name=opts.stream, external=ExternalStream(api=domain_api(domain)))


def _source_key(src: StreamSource) -> tuple[str, str]:
    return src.name, src.external.api if src.external is not None else ""


def sourced_stream_config(
    opts: BusOptions, domains: list[str], existing: list[StreamSource] | None = None
) -> StreamConfig:
    """The hub's batch stream with a source per edge domain (``existing`` ones kept)."""
    sources = list(existing or [])
    have = {_source_key(s) for s in sources}
    for domain in domains:
        src = edge_source(domain, opts)
        if _source_key(src) not in have:
            sources.append(src)
            have.add(_source_key(src))
    return dataclasses.replace(stream_config(opts), sources=sources)


async def ensure_sourced_stream(
    js: JetStreamContext, opts: BusOptions, domains: list[str]
) -> StreamInfo:
    """Create the hub's batch stream (and dead-letter stream) sourcing ``domains``' leaves,
    or add the missing sources to an existing one (``js`` on the hub)."""
    info = await ensure_streams(js, opts)  # limits as configured, sources kept
    cfg = sourced_stream_config(opts, domains, info.config.sources)
    if [_source_key(s) for s in cfg.sources or []] == [
        _source_key(s) for s in info.config.sources or []
    ]:
        return info
    return await js.update_stream(cfg)


async def restart_sources(js: JetStreamContext, opts: BusOptions) -> StreamInfo:
    """Drop and re-add the hub stream's sources, so the server sources again *now*.

    After a source failed for a while (its leaf was down, not just unreachable),
    nats-server retries it with a growing backoff (tens of seconds, up to two
    minutes) even once the leaf is back. Re-adding is safe: the server resumes
    each source after the last sequence of it the stream holds (it reads the
    ``Nats-Stream-Source`` headers), and the duplicate window drops any overlap.
    """
    info = await js.stream_info(opts.stream)
    sources = info.config.sources or []
    if not sources:
        return info
    await js.update_stream(dataclasses.replace(info.config, sources=[]))
    return await js.update_stream(dataclasses.replace(info.config, sources=sources))


async def source_lag(js: JetStreamContext, stream: str) -> int:
    """Messages the sources of ``stream`` still have to deliver, summed (the server's own
    figure; while a link is down it is the last one it knew). 0 if it sources nothing."""
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        return 0
    return sum(int(src.lag or 0) for src in info.sources or [])
