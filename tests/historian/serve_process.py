"""One ``twinbench historian serve`` subprocess for front-end tests (HTTP, OPC UA).

Started with a catalogue (or the seeded store's own) and a seeded store in a temp
dir, found through its ready file (waited on with a deadline, failing with the
server's log), stopped by PID: SIGTERM, then SIGKILL after 20 s.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


class ServeProcess:
    def __init__(
        self,
        serve: Sequence[str],
        tmp: Path,
        catalogue: str | None,
        seed_store: Callable[[Path], None] | None,
        front_end: Sequence[str],
        extra: Sequence[str],
        ready_timeout_s: float,
    ) -> None:
        self.tmp = tmp
        self.data = tmp / "data"
        self.ready = tmp / "ready.json"
        self.log = tmp / "serve.log"
        if seed_store is not None:
            seed_store(self.data)
        argv = [*serve, "--data-dir", str(self.data)]
        if catalogue is not None:  # None: the seeded store's own catalogue
            (tmp / "catalogue.toml").write_text(catalogue)
            argv += ["--catalogue", str(tmp / "catalogue.toml")]
        argv += [*front_end, "--ready-file", str(self.ready), *extra]
        env = dict(
            os.environ, NUMBA_CACHE_DIR=os.environ.get("NUMBA_CACHE_DIR", "/tmp/numba-cache")
        )
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + ready_timeout_s
        while not self.ready.exists():
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"server exited {self.proc.returncode}: {self.log.read_text()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(
                    f"no ready file after {ready_timeout_s:g} s: {self.log.read_text()}"
                )
            time.sleep(0.05)
        self.info: dict[str, Any] = json.loads(self.ready.read_text())
        assert self.info["pid"] == self.proc.pid

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        return self.proc.returncode
