"""A real S3-compatible HTTP endpoint: moto's server mode as a subprocess.

moto keeps objects in memory, so a restart loses them; that is fine for the
cold tier's correctness tests and embedded runs (a real deployment points the
config at MinIO/AWS instead). It runs as `python -m moto.server` rather than
the in-process `ThreadedMotoServer` so it has a PID we can stop (and kill), and
so its request handling does not share our GIL.
"""

from __future__ import annotations

import signal
import sys
import urllib.request
from pathlib import Path
from typing import Any, Self

from harness.services.lifecycle import ProcessService
from harness.services.net import LOOPBACK, free_port
from harness.services.process import ManagedProcess, ServiceError, ServiceStartError

__all__ = ["S3Credentials", "S3Server", "s3_client"]

START_TIMEOUT_S = 60.0
PORT_ATTEMPTS = 3


class S3Credentials:
    """Dummy credentials moto accepts (it does not check signatures' secrets)."""

    access_key = "twinbench"
    secret_key = "twinbench-secret"
    region = "us-east-1"


def s3_client(
    endpoint: str,
    access_key: str = S3Credentials.access_key,
    secret_key: str = S3Credentials.secret_key,
    region: str = S3Credentials.region,
) -> Any:
    """A boto3 S3 client for an endpoint URL (path-style addressing, short retries)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 2, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
        ),
    )


class S3Server(ProcessService):
    """moto S3 server on 127.0.0.1:<free port>; `endpoint` is its URL."""

    display_name = "S3 server"

    def __init__(self, base_dir: Path | None = None, *, start_timeout_s: float = START_TIMEOUT_S):
        self._use_dir(base_dir, "twinbench-s3-")
        self.start_timeout_s = start_timeout_s
        self.credentials = S3Credentials()
        self._port: int | None = None
        self._process: ManagedProcess | None = None

    @property
    def log_path(self) -> Path:
        return self.base_dir / "s3.log"

    @property
    def endpoint(self) -> str:
        if self._port is None:
            raise ServiceError("S3 server: endpoint unknown until started")
        return f"http://{LOOPBACK}:{self._port}"

    @property
    def access_key(self) -> str:
        return self.credentials.access_key

    @property
    def secret_key(self) -> str:
        return self.credentials.secret_key

    @property
    def region(self) -> str:
        return self.credentials.region

    def client(self) -> Any:
        """A boto3 S3 client bound to this server."""
        return s3_client(self.endpoint, self.access_key, self.secret_key, self.region)

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def start(self) -> Self:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        # moto cannot report a port it chose itself, so pick one; retry if taken meanwhile.
        for attempt in range(PORT_ATTEMPTS):
            self._port = free_port()
            self._process = ManagedProcess(
                "moto-s3",
                [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(self._port)],
                self.log_path,
                stop_signal=signal.SIGTERM,
                grace_s=3.0,
            )
            self._process.start()
            try:
                self._process.wait_ready(self._probe, self.start_timeout_s, what="serving S3")
                return self
            except ServiceStartError as exc:
                self._process.stop()
                if "Address already in use" not in str(exc) or attempt == PORT_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _probe(self) -> bool:
        # ListBuckets over plain HTTP: proves the S3 routes answer, not just the socket.
        with urllib.request.urlopen(f"{self.endpoint}/", timeout=2) as resp:
            return resp.status == 200 and b"ListAllMyBucketsResult" in resp.read()
