"""The HTTP API under load inside a scenario: the locust mix while the ingest runs.

With ``Scenario.api_load_users > 0`` the scenario historian serves ``--http
127.0.0.1:0`` with a tag catalogue that names every synthetic series (and the
plant's tags, which a catalogue must then list too: the historian rejects series
it does not know). During the second half of the phase ``Scenario.api_load_phase``
(stress: ``steady``, 50 k points/s) locust runs headless as its own process with
``harness/load/locustfile.py``'s ``TrendUser`` mix over the synthetic tags; the first
half of the same phase is the no-API baseline of the ingest latency
(``harness.run.api_scoring``). Locust is bounded twice: ``--run-time`` and, should it
overrun, SIGTERM then SIGKILL by its PID.

Under ``--secure`` (:class:`ApiAuth`, from ``harness.run.secure_profile``) the historian
is served with ``--tokens`` (the deployment's hashed tokens file), the catalogue's
``[catalogue] tenant`` is the deployment's tenant, and every request of the load (the
tag listing and each locust user) sends the read-scoped token as
``Authorization: Bearer``; a request without it gets 401. The API is served over HTTPS
with the deployment's ``api.crt`` (``--tls-cert``/``--tls-key``), and every client of it
here (the tag listing, each locust user) verifies it against the deployment CA
(``TWINBENCH_LOCUST_CA_FILE`` for locust): no client turns verification off.

Synthetic series ``1_000_001 + k`` are named as ISA-95 paths
``twinbench.loadgen.synthetic.bank_BB.cell_C.series_KKKK.value`` (100 series a bank,
10 a cell), so ``GET /api/v1/tags?pattern=twinbench.loadgen.*`` lists them.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import ssl
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from harness.load.schedule import Schedule
from harness.services import ManagedProcess

if TYPE_CHECKING:
    from harness.plant.plant_load import PlantLoad
    from harness.scenario import Scenario

__all__ = [
    "SYNTHETIC_TAG_GLOB",
    "ApiAuth",
    "ApiLoad",
    "ApiLoadResult",
    "KindStats",
    "api_window_s",
    "parse_locust_stats",
    "synthetic_tag_name",
    "write_scenario_catalogue",
]

SYNTHETIC_TAG_GLOB = "twinbench.loadgen.*"
LOCUST_LEAD_S = 4.0
"""Locust starts this long before the window (imports, spawning); users wait for it."""
LOCUST_NICE = 10
LOCUSTFILE = Path(__file__).parents[1] / "load" / "locustfile.py"
NS = 1_000_000_000


def synthetic_tag_name(series_id: int, base: int) -> str:
    """The ISA-95 path of synthetic series ``series_id`` (``base`` = the first id)."""
    k = int(series_id) - base
    return (
        f"twinbench.loadgen.synthetic.bank_{k // 100:02d}.cell_{k // 10 % 10}.series_{k:04d}.value"
    )


@dataclass(frozen=True)
class ApiAuth:
    """The bearer token of a secure run's API load (``SecureProfile.api_auth``)."""

    tokens_file: Path
    """``historian serve --tokens``: the hashed tokens file."""
    token_file: Path
    """The 0600 file with the load's (read-scoped) secret."""
    tenant: str
    """The tenant of the token, given to every tag of the scenario catalogue."""
    ca_file: Path | None = None
    """The deployment CA the clients verify the API's certificate with (None: plain HTTP)."""
    tls_cert: Path | None = None
    """``historian serve --tls-cert``: the API's certificate, signed by ``ca_file``."""
    tls_key: Path | None = None

    def header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token_file.read_text().strip()}"}

    def ssl_context(self) -> ssl.SSLContext | None:
        """The clients' context: the deployment CA only, hostname checked (None: no TLS)."""
        return api_ssl_context(self.ca_file) if self.ca_file is not None else None

    def server_args(self) -> list[str]:
        """``historian serve`` options: the tokens file and, with a certificate, HTTPS."""
        out = ["--tokens", str(self.tokens_file)]
        if self.tls_cert is not None and self.tls_key is not None:
            out += ["--tls-cert", str(self.tls_cert), "--tls-key", str(self.tls_key)]
        return out


def api_ssl_context(ca_file: Path) -> ssl.SSLContext:
    """A client context trusting ``ca_file`` alone (not the system store), TLS 1.2+."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def write_scenario_catalogue(
    path: Path,
    series_ids: Sequence[int],
    base: int,
    plant_catalogue: Path | None = None,
    *,
    tenant: str = "",
) -> Path:
    """A catalogue TOML naming every synthetic series, after the plant's tags if any.

    The plant's file is the simulator's (the historian skips its Modbus and sensor
    sections); the synthetic ``[[tag]]`` tables continue its tag array. ``tenant``:
    the ``[catalogue] tenant`` default, so every tag belongs to it (API tokens).
    """
    head = (
        plant_catalogue.read_text()
        if plant_catalogue is not None
        else 'format = "twinbench-catalogue"\nversion = 1\n\n[catalogue]\n'
    )
    if tenant:  # the simulator's file and the default above both have a [catalogue] table
        head = head.replace("\n[catalogue]\n", f'\n[catalogue]\ntenant = "{tenant}"\n', 1)
    tags = "".join(
        f'\n[[tag]]\nid = {int(sid)}\npath = "{synthetic_tag_name(sid, base)}"\n'
        f'legacy_name = "LOADGEN:{int(sid) - base}"\nunit = "count"\nlow = -10.0\n'
        'high = 1100.0\ndtype = "float64"\ndescription = "synthetic load series '
        '(harness.load.synthetic)"\n'
        for sid in series_ids
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(head.rstrip("\n") + "\n" + tags)
    return path


def api_window_s(schedule: Schedule, phase: str) -> tuple[float, float, float]:
    """(start, middle, end) run seconds of the first phase named ``phase``.

    ``[start, middle)`` is the ingest baseline without API load, ``[middle, end)``
    the window locust runs in."""
    if phase not in schedule.phase_names:
        raise ValueError(
            f"api load phase {phase!r} is not a phase of the schedule "
            f"({', '.join(schedule.phase_names)})"
        )
    a, b = schedule.phase_bounds_ns[schedule.phase_names.index(phase)]
    return a / NS, (a + b) / 2 / NS, b / NS


@dataclass
class KindStats:
    """One request kind of the mix (a locust stats row)."""

    name: str
    requests: int
    failures: int
    requests_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None


@dataclass
class ApiLoadResult:
    """What the locust run measured over its window."""

    users: int
    window_s: float
    kinds: list[KindStats]
    total: KindStats
    errors: list[str] = field(default_factory=list)
    """Locust's failure messages (``--csv`` failures file): method, kind, error, count."""

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _ms(text: str) -> float | None:
    text = text.strip()
    return None if text in ("", "N/A") else float(text)


def parse_locust_stats(
    stats_csv: str, window_s: float, users: int, failures_csv: str = ""
) -> ApiLoadResult:
    """Locust's ``--csv PREFIX`` ``PREFIX_stats.csv`` (and ``_failures.csv``) -> a result.

    The rate is requests / ``window_s`` (locust's own ``Requests/s`` divides by its
    whole run, lead-in included); p50/p99/max are locust's percentile columns (ms).
    """
    rows = list(csv.DictReader(io.StringIO(stats_csv)))
    if not rows or "Request Count" not in rows[0]:
        raise ValueError("not a locust stats CSV (no 'Request Count' column)")

    def kind(r: dict[str, str]) -> KindStats:
        n = int(r["Request Count"])
        return KindStats(
            name=r["Name"],
            requests=n,
            failures=int(r["Failure Count"]),
            requests_per_s=n / window_s if window_s > 0 else 0.0,
            p50_ms=_ms(r["50%"]) if n else None,
            p99_ms=_ms(r["99%"]) if n else None,
            max_ms=_ms(r["Max Response Time"]) if n else None,
        )

    kinds = [kind(r) for r in rows if r["Name"] != "Aggregated"]
    agg = [kind(r) for r in rows if r["Name"] == "Aggregated"]
    total = agg[0] if agg else KindStats("Aggregated", 0, 0, 0.0, None, None, None)
    errors = [
        f"{r['Method']} {r['Name']}: {r['Error']} (x{r['Occurrences']})"
        for r in csv.DictReader(io.StringIO(failures_csv))
    ]
    return ApiLoadResult(users, window_s, sorted(kinds, key=lambda k: k.name), total, errors)


def http_url(ready_file: Path) -> str:
    """The ``"http"`` URL the historian wrote to its ready file."""
    return str(json.loads(ready_file.read_text())["http"])


def list_tags(
    url: str,
    pattern: str,
    timeout_s: float = 30.0,
    headers: dict[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> list[str]:
    """``GET /api/v1/tags?pattern=`` -> names (the catalogue the server serves);
    ``context``: an ``https://`` URL's trust (:meth:`ApiAuth.ssl_context`)."""
    req = urllib.request.Request(f"{url}/api/v1/tags?pattern={quote(pattern)}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    with urllib.request.urlopen(req, timeout=timeout_s, context=context) as r:
        return [str(t["name"]) for t in json.loads(r.read())["items"]]


class ApiLoad:
    """The scenario's locust run: start before the window, read its stats after it."""

    def __init__(
        self, work: Path, users: int, window_s: tuple[float, float], auth: ApiAuth | None = None
    ) -> None:
        self.work = work / "api-load"
        self.auth = auth
        self.users = users
        self.window_s = window_s
        self.catalogue = work / "catalogue-scenario.toml"
        self.ready_file = work / "historian-ready.json"
        self.result: ApiLoadResult | None = None
        self.notes: list[str] = []

    @classmethod
    def for_scenario(
        cls, scenario: Scenario, schedule: Schedule, work: Path, auth: ApiAuth | None = None
    ) -> ApiLoad | None:
        """The scenario's API load (None without ``api_load_users``); ``auth``: ``--secure``."""
        if not scenario.api_load_users:
            return None
        _, middle, end = api_window_s(schedule, scenario.api_load_phase)
        return cls(work, scenario.api_load_users, (middle, end), auth)

    def write_catalogue(self, series: Sequence[int], base: int, plant: PlantLoad | None) -> None:
        """Before the historian starts: the synthetic series, and the plant's tags."""
        plant_file = plant.write_catalogue() if plant is not None else None
        tenant = self.auth.tenant if self.auth is not None else ""
        write_scenario_catalogue(self.catalogue, series, base, plant_file, tenant=tenant)

    def server_args(self) -> list[str]:
        """The historian's extra arguments: the HTTP API on a free port, the catalogue,
        and under ``--secure`` the tokens file and the HTTPS certificate."""
        tokens = self.auth.server_args() if self.auth is not None else []
        return [
            "--http", "127.0.0.1:0", "--catalogue", str(self.catalogue),
            "--ready-file", str(self.ready_file), *tokens,
        ]  # fmt: skip

    async def run(
        self, origin_wall_ns: int, sleep_until: Callable[[float], Awaitable[None]]
    ) -> None:
        """Wait for the lead-in, run locust over the window, keep its result."""
        start_s, end_s = self.window_s
        await sleep_until(max(start_s - LOCUST_LEAD_S, 0.0))
        url = http_url(self.ready_file)
        header = self.auth.header() if self.auth is not None else None
        context = self.auth.ssl_context() if self.auth is not None else None
        tags = await asyncio.to_thread(list_tags, url, SYNTHETIC_TAG_GLOB, 30.0, header, context)
        if not tags:
            self.notes.append(f"api load: GET /api/v1/tags?pattern={SYNTHETIC_TAG_GLOB} was empty")
            return
        self.work.mkdir(parents=True, exist_ok=True)
        tags_file = self.work / "tags.txt"
        tags_file.write_text("\n".join(tags) + "\n")
        start_ns = origin_wall_ns + int(start_s * NS)
        end_ns = origin_wall_ns + int(end_s * NS)
        run_time = max(int((end_ns - time.time_ns()) / NS + 2), 3)
        env = {
            **os.environ,
            "TWINBENCH_LOCUST_TAGS_FILE": str(tags_file),
            "TWINBENCH_LOCUST_WINDOW": f"{start_ns}:{end_ns}",
        }
        if self.auth is not None:  # the secret's file, not the secret, in the environment
            env["TWINBENCH_LOCUST_TOKEN_FILE"] = str(self.auth.token_file)
            if self.auth.ca_file is not None:
                env["TWINBENCH_LOCUST_CA_FILE"] = str(self.auth.ca_file)
        prefix = self.work / "locust"
        argv = [
            sys.executable, "-m", "locust",
            "-f", str(LOCUSTFILE), "--headless",
            "-u", str(self.users), "-r", str(self.users), "-t", f"{run_time}s",
            "--host", url, "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING",
            "--stop-timeout", "2",
        ]  # fmt: skip
        # nice: the clients would be other machines; on one box the load generator yields
        # the CPU to the system under test (and limits its own rate instead)
        proc = ManagedProcess(
            "locust", argv, self.work / "locust.log", env=env, grace_s=10.0, nice=LOCUST_NICE
        )
        proc.start()
        try:
            deadline = time.monotonic() + run_time + 15
            while proc.running and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
        finally:
            await asyncio.to_thread(proc.stop)  # by its PID: SIGTERM, then SIGKILL
        stats = prefix.with_name("locust_stats.csv")
        if not stats.exists():
            self.notes.append(f"api load: locust wrote no stats (see {proc.log_path})")
            return
        failures = prefix.with_name("locust_failures.csv")
        self.result = parse_locust_stats(
            stats.read_text(),
            end_s - start_s,
            self.users,
            failures.read_text() if failures.exists() else "",
        )

    async def finish(self, task: asyncio.Task[None], load_stopped: bool) -> list[str]:
        """Await :meth:`run`'s task (cancelled if the load stopped first); the run's notes."""
        if not task.done() and load_stopped:
            task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            self.notes.append("api load: cancelled, the load ended before its window")
        except Exception as exc:  # the run still scores; the note says why
            self.notes.append(f"api load failed: {exc!r}")
        return self.notes
