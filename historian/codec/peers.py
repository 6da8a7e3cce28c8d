"""Storage of real peer databases on the same series: InfluxDB 1.x TSM and Prometheus TSDB.

``influx_tsm_sizes`` starts the Debian ``influxd`` in a temporary directory
on loopback ports, writes each series into its own database over the line
protocol (float64 ``repr`` round-trips exactly, ns precision), lets the
engine snapshot its cache and fully compact every cold shard (both cold
periods set to 1 s), waits until the WAL is empty and the ``.tsm`` files
stop changing, and counts the bytes of the ``.tsm`` files (data blocks and
their index; not the series index or the WAL). InfluxDB cannot store NaN or
infinities: those points are left out and counted.

``prometheus_block_sizes`` writes each series as an OpenMetrics gauge and
lets Debian's ``promtool tsdb create-blocks-from openmetrics`` build TSDB
blocks (Prometheus' own backfill: 2 h blocks, XOR chunks of up to 120
samples), then counts the bytes of every block's ``chunks/`` segments. The
per-block ``index`` and ``meta.json`` are left out: a running server compacts
blocks and their indexes, but never re-encodes chunks, which are cut at every
2 h block boundary (so hourly series keep 2-sample chunks). Prometheus keeps
millisecond timestamps: finer ones are truncated and counted in ``skipped``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from historian.errors import HistorianError

STARTUP_S = 30.0
SETTLE_S = 120.0
STABLE_S = 3.0

_CONF = """reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{root}/meta"
  logging-enabled = false
[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false
  cache-snapshot-write-cold-duration = "1s"
  compact-full-write-cold-duration = "1s"
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{http}"
  log-enabled = false
  max-body-size = 0
[continuous_queries]
  enabled = false
"""


class PeerUnavailableError(HistorianError, RuntimeError):
    """The peer database is not installed or did not start."""


@dataclass(frozen=True, slots=True)
class PeerSize:
    nbytes: int
    points: int
    skipped: int
    """Points the peer cannot store (NaN, +-inf), left out of ``points``."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _post(url: str, body: bytes = b"") -> None:
    req = urllib.request.Request(url, data=body, method="POST")
    with urllib.request.urlopen(req, timeout=600) as r:
        if r.status not in (200, 204):
            raise PeerUnavailableError(f"influxd answered HTTP {r.status} to {url}")


def _line_protocol(ts: NDArray[np.int64], values: NDArray[np.float64]) -> bytes:
    return "\n".join(
        f"s value={v!r} {t}" for t, v in zip(ts.tolist(), values.tolist(), strict=True)
    ).encode()


def _tsm_state(root: Path) -> tuple[int, int]:
    tsm = sum(f.stat().st_size for f in (root / "data").rglob("*.tsm"))
    wal = sum(f.stat().st_size for f in (root / "wal").rglob("*.wal"))
    return tsm, wal


def influx_tsm_sizes(
    series: list[tuple[str, NDArray[np.int64], NDArray[np.float64]]],
) -> dict[str, PeerSize]:
    """TSM bytes of each series after InfluxDB's full compaction; raises PeerUnavailableError."""
    if shutil.which("influxd") is None:
        raise PeerUnavailableError(
            "influxd not found: install the Debian package influxdb "
            "(scripts/install-system-deps.sh) or leave out --peers"
        )
    root = Path(tempfile.mkdtemp(prefix="twinbench-influx-"))
    http = _free_port()
    conf = root / "influxdb.conf"
    conf.write_text(_CONF.format(root=root, rpc=_free_port(), http=http))
    log = (root / "influxd.log").open("wb")
    proc = subprocess.Popen(["influxd", "-config", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{http}"
    try:
        deadline = time.monotonic() + STARTUP_S
        while not _accepts(http):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise PeerUnavailableError(f"influxd did not start; see {root}/influxd.log")
            time.sleep(0.05)
        out: dict[str, PeerSize] = {}
        for i, (_, ts, values) in enumerate(series):
            _post(f"{base}/query?" + urllib.parse.urlencode({"q": f"CREATE DATABASE d{i}"}))
            ok = np.isfinite(values)
            for lo in range(0, int(ok.sum()), 100_000):
                t, v = ts[ok][lo : lo + 100_000], values[ok][lo : lo + 100_000]
                _post(f"{base}/write?db=d{i}&precision=ns", _line_protocol(t, v))
        _settle(root)
        for i, (name, _, values) in enumerate(series):
            stored = int(np.isfinite(values).sum())
            nbytes = sum(f.stat().st_size for f in (root / "data" / f"d{i}").rglob("*.tsm"))
            out[name] = PeerSize(nbytes, stored, int(values.size) - stored)
        return out
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def _settle(root: Path) -> None:
    """Wait until the WAL is empty and the TSM bytes have not changed for STABLE_S."""
    deadline = time.monotonic() + SETTLE_S
    last = _tsm_state(root)
    since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = _tsm_state(root)
        if now != last:
            last, since = now, time.monotonic()
        elif now[1] == 0 and now[0] > 0 and time.monotonic() - since >= STABLE_S:
            return
    raise PeerUnavailableError(f"influxd did not finish compacting within {SETTLE_S:.0f} s")


def _openmetrics(ts: NDArray[np.int64], values: NDArray[np.float64]) -> bytes:
    ms = ts // 1_000_000
    special = {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}
    lines = ["# TYPE s gauge"]
    for t, v in zip(ms.tolist(), values.tolist(), strict=True):
        text = repr(v)
        lines.append(f"s {special.get(text, text)} {t // 1000}.{t % 1000:03d}")
    lines.append("# EOF\n")
    return "\n".join(lines).encode()


def prometheus_block_sizes(
    series: list[tuple[str, NDArray[np.int64], NDArray[np.float64]]],
) -> dict[str, PeerSize]:
    """Chunk bytes of the TSDB blocks promtool builds per series (none for series before 1970)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        raise PeerUnavailableError(
            "promtool not found: install the Debian package prometheus "
            "(scripts/install-system-deps.sh) or leave out --peers"
        )
    root = Path(tempfile.mkdtemp(prefix="twinbench-prom-"))
    try:
        out: dict[str, PeerSize] = {}
        for i, (name, ts, values) in enumerate(series):
            if ts.size and int(ts[0]) < 0:
                continue  # Prometheus cannot store times before 1970: no figure for this one
            src, blocks = root / f"s{i}.om", root / f"b{i}"
            src.write_bytes(_openmetrics(ts, values))
            done = subprocess.run(
                [
                    promtool,
                    "tsdb",
                    "create-blocks-from",
                    "openmetrics",
                    "-q",
                    str(src),
                    str(blocks),
                ],
                capture_output=True,
                text=True,
                timeout=600,
            )
            if done.returncode != 0:
                raise PeerUnavailableError(
                    f"promtool failed on {name}: {done.stderr.strip()[:300]}"
                )
            files = list(blocks.glob("*/chunks/*"))
            sub_ms = int(np.count_nonzero(ts % 1_000_000))
            out[name] = PeerSize(sum(f.stat().st_size for f in files), int(ts.size), sub_ms)
        return out
    finally:
        shutil.rmtree(root, ignore_errors=True)
