"""The spool drain: re-publish spooled batches oldest-first, under the forwarder's rules.

One round takes up to ``publish_window`` files and, per file:

* checks it (:func:`check_spooled`): a file that does not decode as a TBWB batch,
  whose id line is not the batch's id, or whose name is not its sequence is moved
  to ``spool/quarantine/`` with its bytes intact, counted and alarmed, and the
  drain goes on with the next file (one bad file must not wedge the collector);
* splits it when it is larger than the server's payload limit (a file spooled
  before the limit was known, or under a larger one): the parts carry the
  batch's sequence and go out as ``<msg id>.<k>of<m>``, in order; the file is
  deleted once every part is acked;
* publishes, then, in sequence order: files acked before the first one with a
  failed attempt (the fence) are deleted; the fence is deleted if a retry got it
  acked, else it keeps its id; every later file of the round, acked or not, gets
  a fresh re-send id and stays, to go out after the fence (it may be in the
  stream ahead of it; see the ordering rule in :mod:`historian.collect.forwarder`).

The drain never runs while batches published from memory are unsettled, so the
spool and the live path never interleave.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import TYPE_CHECKING

from historian.bus.wire import DecodedBatch, WireFormatError, decode_batch, encode_batch
from historian.collect.spool import SpooledBatch

if TYPE_CHECKING:
    from historian.collect.forwarder import BatchForwarder

log = logging.getLogger("historian.collect")


def check_spooled(item: SpooledBatch) -> DecodedBatch | str:
    """The decoded batch, or why the file cannot be published."""
    try:
        decoded = decode_batch(item.payload)
    except WireFormatError as exc:
        return f"undecodable ({exc.reason}: {exc})"
    if decoded.sequence != item.sequence:
        return f"file name says sequence {item.sequence}, the batch says {decoded.sequence}"
    canonical = decoded.batch_id
    if item.msg_id != canonical and not item.msg_id.startswith(canonical + "~"):
        return f"id line {item.msg_id!r} does not belong to batch {canonical}"
    return decoded


def _parts(
    fwd: BatchForwarder, item: SpooledBatch, decoded: DecodedBatch
) -> list[tuple[str, bytes]]:
    if fwd.fits(len(item.payload)):
        return [(item.msg_id, item.payload)]
    pieces = fwd.split_to_fit(decoded.batch)
    fwd.metrics.batches_split += 1
    return [
        (
            f"{item.msg_id}.{k}of{len(pieces)}",
            encode_batch(
                part,
                source_id=decoded.source_id,
                sequence=decoded.sequence,
                created_ns=decoded.created_ns,
            ),
        )
        for k, part in enumerate(pieces)
    ]


def _quarantine(fwd: BatchForwarder, item: SpooledBatch, why: str) -> None:
    dst = fwd.spool.quarantine(item.sequence)
    fwd.metrics.batches_quarantined += 1
    log.error(
        "ALARM spool file %s is %s; moved to %s (%d quarantined so far), draining the rest",
        item.path.name,
        why,
        dst,
        fwd.metrics.batches_quarantined,
    )


async def drain_round(fwd: BatchForwarder) -> bool:
    """Publish one round of spooled files; False when something failed (back off)."""
    opts = fwd.opts
    good: list[tuple[SpooledBatch, DecodedBatch]] = []
    for item in fwd.spool.oldest(opts.publish_window):
        checked = check_spooled(item)
        if isinstance(checked, str):
            _quarantine(fwd, item, checked)
        else:
            good.append((item, checked))
    if not good:
        return True
    sends = []
    retried: set[int] = set()
    for item, decoded in good:
        on_retry = functools.partial(retried.add, item.sequence)
        futs = [
            await fwd.publisher.publish(p, mid, on_retry=on_retry)
            for mid, p in _parts(fwd, item, decoded)
        ]
        sends.append((item, decoded, futs))
    fenced = False  # an earlier file of this round had a failed attempt
    fence_failed = False
    for item, decoded, futs in sends:
        results = await asyncio.gather(*futs, return_exceptions=True)
        ok = not any(isinstance(r, BaseException) for r in results)
        if not fenced:
            if ok:
                fwd.spool.remove(item.sequence)
                fwd.metrics.batches_drained += 1
                fwd.acked(item.sequence, decoded.batch)
            else:
                fence_failed = True  # keeps its id: nothing of this source is ahead of it
            fenced = not ok or item.sequence in retried
            continue
        if ok:
            fwd.acked(item.sequence, decoded.batch)  # in the stream, but maybe too early
        _re_id(fwd, item, fwd.resending(item.sequence, ok))
    return not fence_failed


def _re_id(fwd: BatchForwarder, item: SpooledBatch, msg_id: str) -> None:
    try:
        fwd.spool.put(item.sequence, msg_id, item.payload)
    except OSError as exc:  # the file keeps its old id: a re-send may then be deduplicated
        fwd.metrics.spool_write_errors += 1
        log.error("ALARM could not re-id spool file %s: %s", item.path.name, exc)


async def drain_loop(fwd: BatchForwarder) -> None:
    opts = fwd.opts
    backoff = opts.retry_backoff_s
    while True:
        if not len(fwd.spool) or not fwd.connected or fwd.settling:
            await asyncio.sleep(0.05)
            continue
        try:
            ok = await drain_round(fwd)
        except OSError as exc:  # reading or moving a spool file failed: retry, do not die
            log.error("ALARM spool drain: %s", exc)
            ok = False
        if ok:
            backoff = opts.retry_backoff_s
        else:
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, opts.retry_backoff_max_s)
