"""``twinbench sim``: tag catalogues, register maps, virtual OPC UA/Modbus servers, replay."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    help="Plant twin: tag catalogues, virtual OPC UA/Modbus servers, replay.",
    no_args_is_help=True,
)


class ProfileName(StrEnum):
    normal = "normal"
    peak = "peak"
    stress = "stress"


class MapFormat(StrEnum):
    csv = "csv"
    md = "md"


@app.command("catalogue")
def catalogue_cmd(
    output: Annotated[Path, typer.Option("-o", "--output", help="catalogue TOML file to write")],
    profile: Annotated[ProfileName, typer.Option(help="load profile")] = ProfileName.normal,
    seed: Annotated[int, typer.Option(help="seed for the sensor models")] = 0,
) -> None:
    """Generate the oil-field tag catalogue for a load profile."""
    from sim.catalogue_gen import generate_profile
    from sim.tags import dump_catalogue

    cat = generate_profile(profile.value, seed)
    dump_catalogue(cat, output)
    typer.echo(f"wrote {len(cat)} tags ({cat.meta['wells']} wells) to {output}")


@app.command("register-map")
def register_map_cmd(
    catalogue: Annotated[Path, typer.Argument(help="catalogue TOML file")],
    fmt: Annotated[MapFormat, typer.Option("--format", help="csv or md")] = MapFormat.csv,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="default stdout")] = None,
) -> None:
    """Print the Modbus register map of a catalogue."""
    from sim.register_map import register_map_csv, register_map_markdown
    from sim.tags import CatalogueError, load_catalogue

    try:
        cat = load_catalogue(catalogue)
    except CatalogueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    text = register_map_csv(cat) if fmt is MapFormat.csv else register_map_markdown(cat)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


@contextlib.contextmanager
def _stopped_on_escape(procs: list[Any]) -> Iterator[None]:
    """Stop the started servers if anything escapes before (or from) the serving loop.

    ``_serve_until_interrupted`` stops them in its own ``finally``, but a Ctrl-C
    (KeyboardInterrupt) or an error between ``start_servers`` returning and that loop
    installing its handlers would otherwise leave them running, orphaned. Stopping an
    already stopped server is a no-op.
    """
    from sim.servers.launch import stop_servers

    try:
        yield
    except BaseException:
        stop_servers(procs)
        raise


def _serve_until_interrupted(procs: list[Any], banner: list[str], status: Any = None) -> None:
    """Print ``banner``, block until Ctrl-C / SIGTERM or until a server process dies; then
    stop all by PID.

    The handlers are installed before the banner is printed: whoever waits for the
    endpoint lines may press Ctrl-C at once (a test does), and a SIGINT before the
    handler would end the command with a KeyboardInterrupt (exit 130) instead of a
    clean stop. ``status`` (a :class:`sim.replay_progress.ProgressMeter` over the
    processes' progress files) draws a replay's progress line while waiting."""
    import signal
    import time

    from sim.servers.launch import stop_servers

    if status is not None:
        status = _ProgressPrinter(procs, status)

    stop = {"now": False}

    def _stop(signum: int, frame: object) -> None:
        stop["now"] = True

    old = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for line in banner:
            typer.echo(line)
        while not stop["now"]:
            dead = [p for p in procs if not p.alive()]
            if dead and not all(getattr(p, "finished_ok", False) for p in dead):
                for p in dead:
                    typer.echo(f"server {p.index} exited ({p.proc.returncode}):\n{p.log_tail()}")
                break
            if status is not None:
                status.update()
            time.sleep(0.2)
    finally:
        if status is not None:
            status.close()
        typer.echo("stopping servers ...")
        codes = stop_servers(procs)
        for s, h in old.items():
            signal.signal(s, h)
        typer.echo(f"stopped (exit codes {codes})")


class _ProgressPrinter:
    """One line redrawn in place on a terminal; a line every 2 s (and at the end) otherwise."""

    def __init__(self, procs: list[Any], meter: Any) -> None:
        import sys

        self.paths = [p.progress_path for p in procs if p.progress_path is not None]
        self.meter = meter
        self.tty = sys.stdout.isatty()
        self.last_print = 0.0
        self.finished = False
        self.line = ""

    def update(self) -> None:
        import time

        from sim.replay_progress import read_progress

        if self.finished:
            return
        docs = read_progress(self.paths)
        self.line = self.meter.line(docs)
        done = len(docs) == len(self.paths) and all(d.get("finished") for d in docs)
        now = time.monotonic()
        if self.tty:
            typer.echo("\r" + self.line + "\x1b[K", nl=False)
        elif done or now - self.last_print >= 2.0:
            typer.echo(self.line)
            self.last_print = now
        if done:
            self.finished = True
            if self.tty:
                typer.echo("")
            typer.echo("replay finished; serving the last values, Ctrl-C to stop")

    def close(self) -> None:
        if self.tty and not self.finished and self.line:
            typer.echo("")


@app.command("serve")
def serve_cmd(
    profile: Annotated[ProfileName, typer.Option(help="load profile")] = ProfileName.normal,
    catalogue: Annotated[
        Path | None, typer.Option(help="catalogue TOML (default: generated from --profile)")
    ] = None,
    speed: Annotated[float, typer.Option(help="sim seconds per wall second; 0 = max")] = 1.0,
    seed: Annotated[int, typer.Option(help="twin seed")] = 0,
    tags_per_process: Annotated[int, typer.Option(help="tags per server process")] = 2000,
    security: Annotated[
        str,
        typer.Option(
            "--opcua-security",
            "--security",
            help="opcua: none|sign|encrypt|all|secure; secure = Basic256Sha256 "
            "SignAndEncrypt only, users from --opcua-users (docs/opcua.md, Secure mode)",
        ),
    ] = "none",
    users: Annotated[str, typer.Option(help="opcua users: name:password,... (not secure)")] = "",
    opcua_users: Annotated[
        Path | None, typer.Option(help="secure: users TOML with password hashes")
    ] = None,
    opcua_cert: Annotated[
        Path | None, typer.Option(help="secure: server certificate (default: generated)")
    ] = None,
    opcua_key: Annotated[Path | None, typer.Option(help="secure: its private key (PEM)")] = None,
    opcua_trust: Annotated[
        Path | None, typer.Option(help="secure: only client certificates in this directory")
    ] = None,
    workdir: Annotated[Path | None, typer.Option(help="logs, ready files")] = None,
    record_emitted: Annotated[bool, typer.Option(help="write emitted-N.arrows")] = False,
    history_from: Annotated[
        str | None,
        typer.Option(help="historian HTTP API URL: OPC UA HistoryRead answers from it"),
    ] = None,
) -> None:
    """Start the plant twin's OPC UA + Modbus server processes; Ctrl-C stops them."""
    from sim.servers.launch import ServerStartError, start_servers

    if history_from is not None and not history_from.startswith(("http://", "https://")):
        typer.echo(
            f"error: --history-from {history_from!r} is not a URL; give the historian's HTTP "
            "API, e.g. http://127.0.0.1:8080 (twinbench historian serve --http)",
            err=True,
        )
        raise typer.Exit(2)
    _check_security(security, users, opcua_users, opcua_cert, opcua_key or opcua_trust)
    try:
        procs = start_servers(
            catalogue, profile.value, speed=speed, seed=seed, tags_per_process=tags_per_process,
            security=security, users=_users(users), workdir=workdir,
            record_emitted=record_emitted, history_from=history_from, opcua_users=opcua_users,
            opcua_cert=opcua_cert, opcua_key=opcua_key, opcua_trust=opcua_trust,
        )  # fmt: skip
    except ValueError as exc:  # SecurityConfigError: a users file or certificate unusable
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except ServerStartError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    with _stopped_on_escape(procs):
        banner = [*(p.describe() for p in procs), "serving; Ctrl-C to stop"]
        _serve_until_interrupted(procs, banner)


@app.command("replay")
def replay_cmd(
    recording: Annotated[
        Path | None, typer.Argument(help="CSV or Parquet recording (or --from-historian)")
    ] = None,
    speed: Annotated[float, typer.Option(help="recorded seconds per wall second")] = 60.0,
    rebase: Annotated[bool, typer.Option(help="re-base timestamps so playback starts now")] = False,
    catalogue: Annotated[
        Path | None, typer.Option(help="catalogue whose tag paths name the recorded series")
    ] = None,
    tick: Annotated[float, typer.Option(help="sim seconds per tick; 0 = recording's step")] = 0.0,
    workdir: Annotated[Path | None, typer.Option(help="logs, ready files")] = None,
    from_historian: Annotated[
        str | None, typer.Option(help="historian HTTP API URL to replay a time range from")
    ] = None,
    tags: Annotated[str, typer.Option(help="--from-historian: tag glob")] = "*",
    start: Annotated[str | None, typer.Option(help="--from-historian: range start")] = None,
    end: Annotated[str | None, typer.Option(help="--from-historian: range end")] = None,
    progress: Annotated[
        bool, typer.Option(help="draw sim time, measured speed and ETA while replaying")
    ] = True,
) -> None:
    """Play a recording (or a historian range) through OPC UA + Modbus servers at N x speed."""
    from sim.replay import Recording, RecordingError, fetch_from_historian
    from sim.servers.launch import ServerStartError, start_servers

    if (recording is None) == (from_historian is None):
        typer.echo("error: give a RECORDING file or --from-historian URL (one of them)", err=True)
        raise typer.Exit(2)
    if from_historian is not None:
        if start is None or end is None:
            typer.echo("error: --from-historian needs --start and --end", err=True)
            raise typer.Exit(2)
        work = workdir or Path(tempfile.mkdtemp(prefix="twinbench-replay-"))
        try:
            recording = fetch_from_historian(
                from_historian, tags, start, end, work / "historian-range.parquet"
            )
        except RecordingError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
    assert recording is not None
    if not recording.is_file():
        typer.echo(
            f"error: recording {recording} does not exist or is not a file; "
            "give a CSV or Parquet recording (format: sim/README.md)",
            err=True,
        )
        raise typer.Exit(2)
    if speed <= 0 or tick < 0:
        typer.echo("error: --speed must be > 0 and --tick >= 0", err=True)
        raise typer.Exit(2)
    try:
        recorded = Recording.from_file(recording)
    except RecordingError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        step = tick or recorded.min_step_ns / 1e9
        procs = start_servers(
            catalogue, None, speed=speed, tick_s=step, replay=recording, rebase=rebase,
            workdir=workdir, progress=progress,
        )  # fmt: skip
    except (ServerStartError, RecordingError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    with _stopped_on_escape(procs):
        from sim.replay_progress import ProgressMeter

        banner = [p.describe() for p in procs]
        banner.append(f"replaying {recording} at {speed}x (one tick = {step:g} s); Ctrl-C to stop")
        _serve_until_interrupted(procs, banner, ProgressMeter(len(procs)) if progress else None)


def _check_security(
    security: str, users: str, opcua_users: Path | None, cert: Path | None, key: Path | None
) -> None:
    """Usage errors of the OPC UA security options, before any process starts (exit 2)."""
    from sim.servers.opcua import SECURITY

    problem = None
    if security not in SECURITY:
        problem = f"--opcua-security {security!r}: use one of {', '.join(SECURITY)}"
    elif security == "secure" and opcua_users is None:
        problem = "--opcua-security secure needs --opcua-users FILE (docs/opcua.md, Secure mode)"
    elif security == "secure" and users:
        problem = "--users (plaintext) is refused in secure mode; use --opcua-users FILE"
    elif security != "secure" and (opcua_users or cert or key):
        problem = (
            "--opcua-users/--opcua-cert/--opcua-key/--opcua-trust need --opcua-security secure"
        )
    if problem is not None:
        typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2)


def _users(spec: str) -> dict[str, str]:
    return dict(u.split(":", 1) for u in spec.split(",") if u)
