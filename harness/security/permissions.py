"""Least-privilege subject permissions per role, derived from the bus's subject scheme.

Every role gets allow-lists only (anything not listed is denied), computed
from :class:`historian.bus.options.BusOptions` so a changed stream name or
subject prefix cannot silently leave a hole. What each JetStream client call
really sends (nats-py 2.16 against nats-server 2.15, checked by
``tests/harness/security``):

* ``js.publish(subject)`` is a core publish to ``subject`` with a reply inbox;
  the stream stores it and its PubAck goes to the inbox. No ``$JS.API`` right
  is needed, only publish on the subject and subscribe on the inbox.
* A pull ``fetch`` publishes a request to
  ``$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>``; messages arrive on the
  inbox; ``msg.ack()`` publishes to the message's reply subject
  ``$JS.ACK.<stream>.<consumer>.…``.
* ``pull_subscribe_bind`` sends nothing; ``consumer_info``/``stream_info`` are
  requests to ``$JS.API.CONSUMER.INFO.<stream>.<consumer>`` and
  ``$JS.API.STREAM.INFO.<stream>``.

Accounts separate tenants, so the subjects below are the same in every
tenant's account; a user cannot name another account's subjects at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from harness.security.identities import Identity, Role
from historian.bus.options import BusOptions

__all__ = [
    "AUDIT_STREAM",
    "AUDIT_SUBJECTS",
    "AUDIT_SUBJECT_PREFIX",
    "SubjectPermissions",
    "permissions_for",
    "permissions_table",
    "uns_tenant_root",
]

APPLIED_PREFIX = "tb.applied"
"""``historian.ingest.service.APPLIED_PREFIX`` (ingest's applied notices), repeated here
because importing the ingest service costs ~1.5 s per CLI call; a test keeps them equal."""

AUDIT_STREAM = "AUDIT"
AUDIT_SUBJECT_PREFIX = "tb.audit"
"""Audit records go to ``tb.audit.<kind>`` in the audit account's ``AUDIT`` stream."""

AUDIT_SUBJECTS = (
    "$SYS.ACCOUNT.*.CONNECT",
    "$SYS.ACCOUNT.*.DISCONNECT",
    "$SYS.SERVER.*.CLIENT.AUTH.ERR",
)
"""System-account advisories the audit listener records."""


@dataclass(frozen=True)
class SubjectPermissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def uns_tenant_root(opts: BusOptions, tenant: str) -> str:
    """The tenant's UNS subtree: the ISA-95 enterprise level is the tenant name."""
    return f"{opts.uns_prefix}.{tenant}" if opts.uns_prefix else tenant


def _consumers(opts: BusOptions) -> list[str]:
    return [opts.consumer_name(p) for p in range(opts.partitions)]


def permissions_for(identity: Identity, opts: BusOptions) -> SubjectPermissions:
    """The allow-lists of ``identity`` (deny is implicit for everything else)."""
    inbox = f"{identity.inbox_prefix}.>"
    stream = opts.stream
    if identity.role is Role.COLLECTOR:
        if identity.partition is None or identity.uns_root is None:
            raise ValueError(f"collector {identity.name!r} needs a partition and a UNS root")
        return SubjectPermissions(
            publish=(opts.batch_subject(identity.partition), f"{identity.uns_root}.>"),
            subscribe=(inbox,),
        )
    if identity.role is Role.INGEST:
        publish = [f"$JS.API.STREAM.INFO.{stream}", f"$JS.API.STREAM.INFO.{stream}_DLQ"]
        # the worker's lag in seconds reads the oldest unacked message (historian.ingest.buslag)
        publish.append(f"$JS.API.STREAM.MSG.GET.{stream}")
        for consumer in _consumers(opts):
            publish += [
                f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}",
                f"$JS.API.CONSUMER.INFO.{stream}.{consumer}",
                f"$JS.ACK.{stream}.{consumer}.>",
            ]
        publish += [opts.dead_letter_subject, f"{APPLIED_PREFIX}.>"]
        return SubjectPermissions(publish=tuple(publish), subscribe=(inbox,))
    if identity.role is Role.READER:
        if identity.tenant is None:
            raise ValueError(f"reader {identity.name!r} needs a tenant")
        publish = [f"$JS.API.STREAM.INFO.{stream}"]
        publish += [f"$JS.API.CONSUMER.INFO.{stream}.{c}" for c in _consumers(opts)]
        return SubjectPermissions(
            publish=tuple(publish),
            subscribe=(f"{uns_tenant_root(opts, identity.tenant)}.>", f"{APPLIED_PREFIX}.>", inbox),
        )
    if identity.role is Role.OPERATOR:
        # Stream administration: the whole JetStream API of its own account, and the
        # dead-letter subject (re-publishing a fixed batch), nothing else.
        return SubjectPermissions(
            publish=("$JS.API.>", opts.dead_letter_subject), subscribe=(inbox,)
        )
    if identity.role is Role.AUDIT:
        return SubjectPermissions(publish=(), subscribe=(*AUDIT_SUBJECTS, inbox))
    if identity.role is Role.AUDIT_WRITER:
        api = "$JS.API.STREAM"
        return SubjectPermissions(
            publish=(
                f"{AUDIT_SUBJECT_PREFIX}.>",
                f"{api}.CREATE.{AUDIT_STREAM}",
                f"{api}.INFO.{AUDIT_STREAM}",
                f"{api}.MSG.GET.{AUDIT_STREAM}",
            ),
            subscribe=(inbox,),
        )
    raise AssertionError(f"unhandled role {identity.role}")


def permissions_table(identities: Iterable[Identity], opts: BusOptions) -> str:
    """Markdown table of every identity's allow-lists (``security show --permissions``,
    and the table in docs/security.md, which a test keeps equal to this)."""
    rows = [
        "| user | role | account | may publish to | may subscribe to |",
        "|---|---|---|---|---|",
    ]
    for ident in identities:
        perms = permissions_for(ident, opts)
        pub = "<br>".join(f"`{s}`" for s in perms.publish) or "nothing"
        sub = "<br>".join(f"`{s}`" for s in perms.subscribe) or "nothing"
        rows.append(f"| {ident.name} | {ident.role.value} | {ident.account} | {pub} | {sub} |")
    return "\n".join(rows)
