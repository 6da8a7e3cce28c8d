"""Command line of the historian server (``twinbench historian serve``).

One parser for every way in: ``twinbench historian serve``, ``python -m
historian.server`` and the older ``python -m historian.ingest`` (an alias).

    twinbench historian serve DIR --nats nats://127.0.0.1:4222 --ready-file ready.json

Usage errors print one line and exit 2; see :mod:`historian.server.process`
for the other exit codes.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import os
import re
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import nats.errors

from historian.bus.auth import add_nats_auth_arguments, nats_auth_from_args
from historian.bus.options import BusOptions
from historian.crypto.keyfile import EncryptionKeyError
from historian.errors import CatalogueError, HistorianError
from historian.ingest.sources import SourceBinding, SourceOwnersError, load_source_owners
from historian.ingest.worker import NotProvisionedError
from historian.options import FsyncPolicy
from historian.server.malloc import tune_malloc
from historian.server.process import HistorianServer, ServeConfig

if TYPE_CHECKING:
    from historian.opcua.security import SecureModeConfig

_UNITS_NS = {
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3_600 * 10**9,
    "d": 86_400 * 10**9,
    "y": 3_653 * 86_400 * 10**9 // 10,  # 365.3 days: ten "y" are the 10-year default
}

NOT_BUILT: dict[str, str] = {}
"""Flags of front ends that are not built yet (none today): a usage error names them."""


def parse_duration(text: str) -> int | None:
    """``10y``, ``1d``, ``36h``, ``90s``, ``250ms`` -> ns; ``none`` -> None (unbounded).

    >>> parse_duration("1d") == 86_400 * 10**9, parse_duration("none")
    (True, None)
    """
    t = text.strip().lower()
    if t in ("none", "off", "unbounded"):
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|y)", t)
    if m is None:
        raise ValueError(f"{text!r} is not a duration; use e.g. 10y, 1d, 36h, 90s or none")
    return int(float(m.group(1)) * _UNITS_NS[m.group(2)])


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser(prog: str) -> argparse.ArgumentParser:
    ap = _Parser(
        prog=prog,
        description="Run the historian server: own the store in DIR, ingest the stream "
        "(--nats), serve the front ends; stop with Ctrl-C or SIGTERM.",
    )
    ap.add_argument("directory", nargs="?", type=Path, help="historian data directory")
    ap.add_argument("--data-dir", type=Path, help="the same as DIRECTORY")
    ap.add_argument(
        "--nats",
        help="nats://host:port: consume the batch stream into the store; on a cluster, "
        "every node comma-separated",
    )
    ap.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="JetStream replicas of the stream it creates: 1, or 3 on a 3-node cluster (R3)",
    )
    ap.add_argument("--partition", type=int, action="append", help="partition(s) to consume")
    ap.add_argument("--partitions", type=int, default=1, help="total partitions of the stream")
    ap.add_argument(
        "--node",
        metavar="NAME",
        help="with --nats: join the partition assignment table (a JetStream KV bucket) as NAME "
        "and own the partitions it assigns, handing them over as processes join and leave; "
        "queries for any tag are routed to the owners (docs/scaling.md)",
    )
    ap.add_argument(
        "--assignment-bucket",
        default=ServeConfig.assignment_bucket,
        metavar="BUCKET",
        help="KV bucket of the assignment table (default twinbench-partitions)",
    )
    ap.add_argument("--stream", default=ServeConfig.stream, help="JetStream stream name")
    ap.add_argument("--notify-nats", help="separate URL for applied notices (harness use)")
    add_nats_auth_arguments(ap)
    ap.add_argument(
        "--bind-only",
        action="store_true",
        help="the streams and consumers were created by an operator: only bind to them, never "
        "create or update them (a least-privilege ingest identity may not; docs/security.md)",
    )
    ap.add_argument(
        "--source-owners",
        type=Path,
        metavar="FILE",
        help="JSON of which sources may publish on each partition and which series each may "
        "write (historian/docs/format/source-owners.md); a batch of another source is "
        "dead-lettered (wrong-source), one with a series its source does not own too "
        "(wrong-series). With --nats-nkey the routing check (crc32c(source) %% partitions) "
        "is on even without it",
    )
    ap.add_argument("--catalogue", type=Path, help="tag catalogue TOML; unknown series rejected")
    ap.add_argument(
        "--durability",
        choices=("fsync", "os"),
        default="fsync",
        help="fsync (default): ack after the WAL fsync, survives power loss; os: ack once "
        "written to the OS, fsync every 5 ms, survives SIGKILL but not power loss",
    )
    ap.add_argument("--fsync", help="advanced: explicit WAL policy always|interval_ms=N|never")
    ap.add_argument("--accept-past", default="10y", help="oldest accepted point (default 10y)")
    ap.add_argument("--accept-future", default="1d", help="newest accepted point (default 1d)")
    ap.add_argument("--retention", default="none", help="delete data older than this (wall clock)")
    ap.add_argument(
        "--encryption-key",
        type=Path,
        metavar="FILE",
        help="encrypt the WAL and segment files at rest with this key file (64 hex digits, "
        "mode 0600; make one with `python -m historian.crypto keygen FILE`)",
    )
    ap.add_argument("--ready-file", type=Path, help='write {"pid": ...} JSON here once serving')
    ap.add_argument(
        "--gil-switch-ms",
        default=os.environ.get(GIL_SWITCH_ENV),
        metavar="MS",
        help="how long a thread may hold the GIL while another waits (Python's default: 5 ms); "
        f"shorter hands it to the event loop sooner during flushes and compactions "
        f"(default: ${GIL_SWITCH_ENV}, else Python's; docs/operations.md)",
    )
    ap.add_argument("--metrics-port", type=int, help="serve /metrics and /healthz on 127.0.0.1")
    ap.add_argument(
        "--http", metavar="HOST:PORT", help="serve the HTTP API and /viewer (port 0 = any free)"
    )
    ap.add_argument("--tokens", type=Path, help="bearer tokens TOML for the HTTP API (docs/api.md)")
    ap.add_argument(
        "--tls-cert",
        type=Path,
        metavar="FILE",
        help="serve the HTTP API and /metrics over HTTPS with this PEM certificate (chain); "
        "needs --tls-key (twinbench security init: api.crt)",
    )
    ap.add_argument(
        "--tls-key", type=Path, metavar="FILE", help="the --tls-cert's private key (PEM)"
    )
    ap.add_argument(
        "--http-limit",
        action="append",
        default=[],
        metavar="NAME=N",
        help="override an HTTP API limit, e.g. max_values=100000 (docs/api.md, Limits)",
    )
    ap.add_argument(
        "--opcua",
        metavar="HOST:PORT",
        help="serve OPC UA with HistoryRead over the catalogue's tags (port 0 = any free)",
    )
    ap.add_argument(
        "--opcua-limit",
        action="append",
        default=[],
        metavar="NAME=N",
        help="override a HistoryRead limit, e.g. max_values=10000 (docs/opcua.md, Limits)",
    )
    ap.add_argument(
        "--opcua-security",
        choices=("none", "secure"),
        default="none",
        help="secure: Basic256Sha256 SignAndEncrypt only, no anonymous, users from "
        "--opcua-users (docs/opcua.md, Secure mode); default none",
    )
    ap.add_argument(
        "--opcua-users", type=Path, metavar="FILE", help="secure: users TOML with password hashes"
    )
    ap.add_argument(
        "--opcua-cert",
        type=Path,
        metavar="FILE",
        help="secure: server certificate, DER or PEM (default: generated into DIR/opcua-pki)",
    )
    ap.add_argument("--opcua-key", type=Path, metavar="FILE", help="secure: its private key (PEM)")
    ap.add_argument(
        "--opcua-trust",
        type=Path,
        metavar="DIR",
        help="secure: accept only the client certificates found in DIR (default: any)",
    )
    ap.add_argument(
        "--connections-allow-remote",
        action="store_true",
        help="with --nats: POST /api/v1/connections may name endpoints off loopback "
        "(default: 127.0.0.1/::1/localhost only)",
    )
    ap.add_argument(
        "--max-connections",
        type=int,
        default=16,
        metavar="N",
        help="with --nats: collector connections the server runs at once (default 16)",
    )
    ap.add_argument(
        "--managed-identities",
        type=Path,
        metavar="FILE",
        help="with --nats-nkey: the bus identities the server gives its managed collector "
        "connections, one each (security init --managed N writes "
        "managed-identities-<tenant>.json; historian/docs/format/managed-identities.md)",
    )
    ap.add_argument(
        "--tier",
        type=Path,
        metavar="FILE",
        help="export to the cold tier while serving: TOML with [s3]/[tier] (docs/config.md)",
    )
    ap.add_argument(
        "--bucket",
        help="advanced: segment bucket width, e.g. 1h (default) or 1m for a short --tier "
        "hot window; the tier exports whole buckets",
    )
    ap.add_argument(
        "--l2-settle-buckets",
        type=int,
        metavar="N",
        help="advanced: rewrite a bucket with the settled (L2) codec once it ends N buckets "
        "before the newest data (default 1); a short --tier hot window sets it past the "
        "window, so a bucket about to be exported is not rewritten first",
    )
    return ap


def config_from_args(ap: argparse.ArgumentParser, argv: list[str] | None) -> ServeConfig:
    args = ap.parse_args(argv)
    gil_switch_ms = _check_gil_switch(ap, args.gil_switch_ms)
    for flag, why in NOT_BUILT.items():
        if getattr(args, flag.lstrip("-")) is not None:
            ap.error(f"{flag}: {why}")
    if args.directory is not None and args.data_dir is not None:
        ap.error("give the data directory once: DIRECTORY or --data-dir")
    data_dir = args.directory or args.data_dir
    if data_dir is None:
        ap.error("the historian data directory is required (DIRECTORY or --data-dir)")
    if args.partitions < 1:
        ap.error(f"--partitions must be >= 1, got {args.partitions}")
    if not 1 <= args.replicas <= 5:
        ap.error(f"--replicas must be 1..5 (JetStream's limit), got {args.replicas}")
    parts = tuple(args.partition or range(args.partitions))
    if args.node is not None:
        if args.nats is None:
            ap.error("--node needs --nats URL (the assignment table is on the bus)")
        if args.partition:
            ap.error("give --node (assigned partitions) or --partition (static ones), not both")
        if args.http is None:
            ap.error("--node needs --http HOST:PORT (queries are routed between the nodes)")
        if not re.fullmatch(r"[A-Za-z0-9_-]+", args.node):
            ap.error(f"--node {args.node!r}: use letters, digits, '_' and '-' only")
        parts = ()
    bad = [p for p in parts if not 0 <= p < args.partitions]
    if bad:
        ap.error(f"--partition {bad[0]} is outside 0..{args.partitions - 1}")
    if args.catalogue is not None and not args.catalogue.is_file():
        ap.error(f"--catalogue {args.catalogue}: no such file")
    try:
        nats_auth = nats_auth_from_args(args)
    except ValueError as exc:
        ap.error(str(exc))
    if (nats_auth.secured or args.bind_only) and args.nats is None:
        ap.error("--nats-nkey/--nats-tls-*/--bind-only need --nats URL")
    sources = _source_binding(ap, args, nats_auth.nkey_seed is not None)
    if args.encryption_key is not None:
        from historian.crypto.keyfile import KeyFileError, load_key

        try:
            load_key(args.encryption_key)  # missing, unreadable, malformed or too open: exit 2
        except KeyFileError as exc:
            ap.error(f"--encryption-key: {exc}")
    http_limits: tuple[tuple[str, int], ...] = ()
    if args.http is not None or args.tokens is not None or args.http_limit:
        http_limits = _check_http(ap, args.http, args.tokens, args.http_limit)
    http_tls = _check_tls(ap, args)
    opcua_limits: tuple[tuple[str, int], ...] = ()
    if args.opcua is not None or args.opcua_limit:
        from historian.opcua.frontend import parse_limits as parse_opcua_limits
        from historian.opcua.frontend import parse_listen as parse_opcua

        if args.opcua is None:
            ap.error("--opcua-limit needs --opcua HOST:PORT")
        try:
            parse_opcua(args.opcua)
            opcua_limits = parse_opcua_limits(args.opcua_limit)
        except ValueError as exc:
            ap.error(str(exc))
    opcua_secure = _check_opcua_security(ap, args)
    try:
        fsync = FsyncPolicy.parse(args.fsync) if args.fsync is not None else None
        past, future = parse_duration(args.accept_past), parse_duration(args.accept_future)
        retention = parse_duration(args.retention)
        bucket = parse_duration(args.bucket) if args.bucket is not None else None
    except ValueError as exc:
        ap.error(str(exc))
    if not 0 <= args.max_connections <= 1000:
        ap.error(f"--max-connections must be 0..1000, got {args.max_connections}")
    if args.managed_identities is not None:
        if args.nats is None:
            ap.error("--managed-identities needs --nats URL")
        from historian.server.managed_identities import IdentityPool, ManagedIdentityError

        try:
            IdentityPool.load(args.managed_identities)
        except ManagedIdentityError as exc:
            ap.error(f"--managed-identities: {exc}")
    if args.l2_settle_buckets is not None and args.l2_settle_buckets < 1:
        ap.error(f"--l2-settle-buckets must be >= 1, got {args.l2_settle_buckets}")
    if args.bucket is not None and not bucket:
        ap.error(f"--bucket {args.bucket}: give a positive width such as 1h or 1m")
    if args.tier is not None:
        from historian.tier.config import TierConfig, TierConfigError

        try:
            TierConfig.load(args.tier)
        except TierConfigError as exc:
            ap.error(f"--tier: {exc}")
    return ServeConfig(
        data_dir=data_dir,
        nats_url=args.nats,
        partitions=parts,
        partition_count=args.partitions,
        stream=args.stream,
        notify_url=args.notify_nats,
        catalogue=args.catalogue,
        durability=args.durability,
        fsync=fsync,
        accept_past_ns=past,
        accept_future_ns=future,
        retention_ns=retention,
        encryption_key=args.encryption_key,
        ready_file=args.ready_file,
        metrics_port=args.metrics_port,
        http=args.http,
        tokens=args.tokens,
        http_limits=http_limits,
        http_tls=http_tls,
        gil_switch_ms=gil_switch_ms,
        opcua=args.opcua,
        opcua_limits=opcua_limits,
        bus=BusOptions(replicas=args.replicas),
        nats_auth=nats_auth,
        bind_only=args.bind_only,
        sources=sources,
        opcua_secure=opcua_secure,
        tier=args.tier,
        bucket_ns=bucket,
        l2_settle_buckets=args.l2_settle_buckets,
        connections_allow_remote=args.connections_allow_remote,
        max_connections=args.max_connections,
        managed_identities=args.managed_identities,
        node=args.node,
        assignment_bucket=args.assignment_bucket,
    )


def _source_binding(
    ap: argparse.ArgumentParser, args: argparse.Namespace, authenticated: bool
) -> SourceBinding | None:
    """The forged-source check: the owners file, else the routing rule when the bus is
    authenticated (historian.ingest.sources), else none (a plain bus)."""
    if args.source_owners is None:
        return SourceBinding(args.partitions) if authenticated else None
    if args.nats is None:
        ap.error("--source-owners needs --nats URL")
    try:
        binding = load_source_owners(args.source_owners)
    except SourceOwnersError as exc:
        ap.error(f"--source-owners: {exc}")
    if binding.partitions != args.partitions:
        ap.error(
            f"--source-owners is for {binding.partitions} partitions, --partitions is "
            f"{args.partitions}: give the same count"
        )
    return binding


def _check_opcua_security(
    ap: argparse.ArgumentParser, args: argparse.Namespace
) -> SecureModeConfig | None:
    """Usage errors of --opcua-security and the secure-mode files (exit 2)."""
    files = (args.opcua_users, args.opcua_cert, args.opcua_key, args.opcua_trust)
    if args.opcua_security == "none":
        if any(f is not None for f in files):
            ap.error(
                "--opcua-users/--opcua-cert/--opcua-key/--opcua-trust need --opcua-security secure"
            )
        return None
    from historian.opcua.security import SecureModeConfig, SecurityConfigError

    if args.opcua is None:
        ap.error("--opcua-security secure needs --opcua HOST:PORT")
    if args.opcua_users is None:
        ap.error("--opcua-security secure needs --opcua-users FILE (docs/opcua.md, Secure mode)")
    cfg = SecureModeConfig(args.opcua_users, args.opcua_cert, args.opcua_key, args.opcua_trust)
    try:
        cfg.check()
    except SecurityConfigError as exc:
        ap.error(str(exc))
    return cfg


GIL_SWITCH_ENV = "TWINBENCH_GIL_SWITCH_MS"
"""The environment default of ``--gil-switch-ms`` (so a harness can set it for every server)."""


def _check_gil_switch(ap: argparse.ArgumentParser, text: str | None) -> float | None:
    """``--gil-switch-ms`` (or $TWINBENCH_GIL_SWITCH_MS): a number of ms in (0, 1000]."""
    if text is None or text == "":
        return None
    try:
        ms = float(text)
    except ValueError:
        ms = float("nan")
    if not 0 < ms <= 1000:
        ap.error(
            f"--gil-switch-ms (or ${GIL_SWITCH_ENV}) must be a number of milliseconds in "
            f"(0, 1000], not {text!r}"
        )
    return ms


def _check_tls(ap: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[Path, Path] | None:
    """--tls-cert/--tls-key: both, with --http or --metrics-port, readable, the key the
    certificate's (exit 2). They secure both HTTP ports: the API and /metrics."""
    if args.tls_cert is None and args.tls_key is None:
        return None
    if args.http is None and args.metrics_port is None:
        ap.error("--tls-cert and --tls-key need --http HOST:PORT or --metrics-port N")
    from historian.api.frontend import check_tls_files

    try:
        files = check_tls_files(args.tls_cert, args.tls_key)
    except ValueError as exc:
        ap.error(str(exc))
    assert files is not None
    return files.cert, files.key


def _check_http(
    ap: argparse.ArgumentParser, http: str | None, tokens: Path | None, limits: list[str]
) -> tuple[tuple[str, int], ...]:
    """Usage errors of --http/--tokens/--http-limit before anything starts (exit 2, one line)."""
    from historian.api.auth import TokenError, load_tokens
    from historian.api.frontend import parse_limits, parse_listen

    if http is None:
        ap.error("--tokens and --http-limit need --http HOST:PORT")
    try:
        parse_listen(http)
        if tokens is not None:
            load_tokens(tokens)
        return parse_limits(limits)
    except (ValueError, TokenError) as exc:
        ap.error(str(exc))


def main(argv: list[str] | None = None, prog: str = "twinbench historian serve") -> int:
    cfg = config_from_args(build_parser(prog), argv)
    tune_malloc()  # before the server starts its threads (historian/server/malloc.py)
    if cfg.gil_switch_ms is not None:
        sys.setswitchinterval(cfg.gil_switch_ms / 1e3)
    # `kill -USR1 PID` dumps every thread's stack to stderr: how to see where a stop hangs
    faulthandler.register(signal.SIGUSR1)
    server = HistorianServer(cfg)
    stop = asyncio.Event()

    async def run() -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await server.run(stop)

    try:
        return asyncio.run(run())
    except CatalogueError as exc:  # the --catalogue file is malformed or conflicts: a usage error
        print(f"{prog}: error: {exc}", file=sys.stderr, flush=True)
        return 2
    except EncryptionKeyError as exc:  # the store needs another key, or none: a usage error
        print(f"{prog}: error: {exc}", file=sys.stderr, flush=True)
        return 2
    except NotProvisionedError as exc:  # --bind-only before the operator made the consumers
        print(f"{prog}: error: {exc}", file=sys.stderr, flush=True)
        return 1
    except (HistorianError, OSError, nats.errors.Error) as exc:
        # the store could not be opened (locked by another server, corrupt, unreadable)
        # or the bus is unreachable at start
        print(f"{prog}: error: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
