"""The HTTP API as a front end of ``twinbench historian serve --http HOST:PORT``.

:class:`HttpFrontEnd` implements :class:`historian.server.process.FrontEnd`: it
runs uvicorn in the server's own event loop on a socket it binds itself (port 0
picks a free port, reported in the ready file as ``"http": "http://127.0.0.1:PORT"``, or
``https://`` with ``--tls-cert``/``--tls-key``: :class:`TlsFiles`, checked by
:func:`check_tls_files` before anything starts),
builds the :class:`~historian.query.engine.QueryEngine` over the server's open
store and catalogue, and reads the ingest workers' health and gauges live for
``/health`` and ``/metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import ssl
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn
from prometheus_client import CollectorRegistry

from historian.api.app import create_app
from historian.api.auth import TokenTable
from historian.api.health import ApiLimits, ApiState
from historian.query.engine import QueryEngine

if TYPE_CHECKING:
    from historian.server.process import HistorianServer

__all__ = ["HttpFrontEnd", "TlsFiles", "check_tls_files", "parse_limits", "parse_listen"]


@dataclasses.dataclass(frozen=True)
class TlsFiles:
    """The HTTP API's certificate chain and private key (PEM), ``--tls-cert``/``--tls-key``."""

    cert: Path
    key: Path


def check_tls_files(cert: Path | None, key: Path | None) -> TlsFiles | None:
    """Both or neither; each a readable PEM; the key the certificate's. ValueError: one line.

    Loaded into a throwaway server context, the same call uvicorn makes later, so a
    file that passes here cannot fail once the store is being opened."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ValueError("--tls-cert and --tls-key go together (the certificate and its key)")
    for flag, path in (("--tls-cert", cert), ("--tls-key", key)):
        try:
            path.read_bytes()
        except OSError as exc:
            raise ValueError(f"{flag} {path}: {exc.strerror or exc}") from None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(str(cert), str(key))
    except ssl.SSLError as exc:
        why = "the key does not match the certificate" if "MISMATCH" in str(exc) else exc.reason
        raise ValueError(f"--tls-cert {cert} / --tls-key {key}: {why or exc}") from None
    return TlsFiles(cert, key)


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) -> (host, port); ValueError says what is expected."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65_535:
        raise ValueError(
            f"--http {text!r}: expected HOST:PORT such as 127.0.0.1:8080 (port 0 = any)"
        )
    return host, int(port)


def parse_limits(items: Iterable[str]) -> tuple[tuple[str, int], ...]:
    """``["max_values=1000", ...]`` -> ((name, value), ...); ValueError names the bad item."""
    names = {f.name for f in dataclasses.fields(ApiLimits)}
    out = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in names or not value.isdigit() or int(value) < 1:
            raise ValueError(
                f"--http-limit {item!r}: expected NAME=N with N >= 1 and NAME one of "
                + ", ".join(sorted(names))
            )
        out.append((name, int(value)))
    return tuple(out)


def _public_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


class _SignalFreeServer(uvicorn.Server):
    """uvicorn without its own SIGINT/SIGTERM handlers: the server process owns those
    (its handler stops every front end in order; uvicorn's would stop only this one)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpFrontEnd:
    """uvicorn serving :func:`~historian.api.app.create_app` inside the server process."""

    name = "http"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        tokens: TokenTable | None = None,
        limits: ApiLimits | None = None,
        tls: TlsFiles | None = None,
    ) -> None:
        self.host = host
        self.tls = tls
        self.port = port
        self.state = ApiState(tokens=tokens or TokenTable(), limits=limits or ApiLimits())
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = None

    def _extra_registries(self, server: HistorianServer) -> Iterable[CollectorRegistry]:
        regs = [*self._tier_registry(server)]
        connections = getattr(server, "connections", None)
        if connections is not None:  # historian.server.connection_metrics
            regs.append(connections.registry())
        ingest = server.ingest
        if ingest is None:
            return regs
        from historian.ingest.metrics import IngestExporter

        exporter = getattr(self, "_exporter", None)
        if exporter is None:
            exporter = IngestExporter()
            exporter.set_recovery(server.db.recovery_report)
            self._exporter = exporter
        exporter.update(ingest.workers)
        return [exporter.registry, *regs]

    def _tier_registry(self, server: HistorianServer) -> list[CollectorRegistry]:
        """The cold tier's figures (historian.tier.metrics) when the server runs ``--tier``."""
        reg: CollectorRegistry | None = getattr(self, "_tier_reg", None)
        if reg is None:
            runner = next((fe for fe in server.front_ends if fe.name == "tier"), None)
            if runner is None:
                return []
            from historian.tier.metrics import TierCollector

            reg = CollectorRegistry()
            reg.register(TierCollector(runner))  # type: ignore[arg-type]  # a TierFrontEnd
            self._tier_reg = reg
        return [reg]

    def _ingest_health(self, server: HistorianServer) -> dict[str, dict[str, Any]]:
        if server.ingest is None:
            return {}
        return {str(w.partition): w.health.as_dict() for w in server.ingest.workers}

    @property
    def url(self) -> str | None:
        """``http://HOST:PORT`` (``https://`` with TLS) once bound (the ready-file value)."""
        if self._sock is None:
            return None
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{_public_host(self.host)}:{self._sock.getsockname()[1]}"

    async def prepare(self, server: HistorianServer) -> None:
        """Serve before the store is open: queries answer 503, /health "recovering"."""
        if self._server is not None:
            return
        app = create_app(self.state, extra_registries=lambda: self._extra_registries(server))
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(1024)
        sock.setblocking(False)
        self._sock = sock
        config = uvicorn.Config(
            app,
            log_level="warning",
            lifespan="off",
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=5,
            # TLS 1.2+ (uvicorn's default context); no client certificates: bearer tokens
            # authenticate the caller, the certificate authenticates this server to it
            ssl_certfile=str(self.tls.cert) if self.tls is not None else None,
            ssl_keyfile=str(self.tls.key) if self.tls is not None else None,
        )
        self._server = _SignalFreeServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises why uvicorn stopped
                raise RuntimeError("the HTTP server stopped before it started")
            await asyncio.sleep(0.01)

    async def start(self, server: HistorianServer) -> dict[str, str]:
        """The store is open: answer queries from now on."""
        await self.prepare(server)
        self.state.recovery = dict(server.db.recovery_report)
        self.state.ingest_health = lambda: self._ingest_health(server)
        self.state.engine = QueryEngine(server.db, getattr(server, "catalogue", None))
        self.state.connections = getattr(server, "connections", None)
        self.state.router = getattr(server, "router", None)
        assert self.url is not None
        return {"http": self.url}

    async def stop(self) -> None:
        """Stop serving (idempotent: the server may call it twice)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            await self._task
            self._task = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._server = None
