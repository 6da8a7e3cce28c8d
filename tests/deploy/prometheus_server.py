"""A real Prometheus (Debian's ``prometheus`` binary) on loopback, for the scrape tests.

Prometheus needs a fixed ``--web.listen-address``, so the port comes from
:func:`harness.services.net.free_port` (bind port 0, close, hand it over) and a
start that loses the race for it is retried on a new port. Storage lives in the
test's directory; the process is a :class:`~harness.services.ManagedProcess`
(log captured, stopped by PID: SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import json
import shutil
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from harness.services import ManagedProcess, ServiceStartError
from harness.services.net import LOOPBACK, free_port

READY_TIMEOUT_S = 60.0


def prometheus_binary() -> str:
    path = shutil.which("prometheus")
    assert path is not None, (
        "prometheus not found: run scripts/install-system-deps.sh (Debian package prometheus)"
    )
    return path


class PrometheusServer:
    def __init__(self, base_dir: Path, config: Path) -> None:
        self.base_dir = base_dir
        self.config = config
        self.port = 0
        self.proc: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, attempts: int = 3) -> PrometheusServer:
        for attempt in range(attempts):
            self.port = free_port()
            self.proc = ManagedProcess(
                "prometheus",
                [prometheus_binary(), f"--config.file={self.config}",
                 f"--storage.tsdb.path={self.base_dir / 'tsdb'}",
                 f"--web.listen-address={LOOPBACK}:{self.port}", "--log.level=warn"],
                self.base_dir / "prometheus.log",
            )  # fmt: skip
            self.proc.start()
            try:
                self.proc.wait_ready(self._ready, READY_TIMEOUT_S, "ready")
                return self
            except ServiceStartError:
                if attempt == attempts - 1 or "address already in use" not in (
                    self.proc.log_path.read_text()
                ):
                    raise
        raise AssertionError("unreachable")

    def _ready(self) -> bool:
        with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as r:
            return int(r.status) == 200

    def api(self, path: str, **params: str) -> Any:
        """``GET /api/v1/<path>``; returns ``data`` (asserts the status is success)."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as r:
            body = json.loads(r.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return list(self.api("query", query=expr)["result"])

    def alerts(self) -> list[dict[str, Any]]:
        return list(self.api("alerts")["alerts"])

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
