"""Real service fixtures on loopback: nats-server (single/cluster), S3 (moto), PostgreSQL.

Each service is a context manager with `start()`, `stop()`, `pid`/`pids`,
`url`/`urls`/`endpoint`/`dsn` and `log_path`, started on 127.0.0.1 with a free
port and a temp dir, stopped by PID (also at exit: see `process.py`).

    with NatsServer() as nats:
        nc = await nats_py.connect(nats.url)
"""

from harness.services.nats import NatsCluster, NatsServer, find_nats_server
from harness.services.postgres import PostgresServer, find_postgres_bin
from harness.services.process import (
    ManagedProcess,
    ServiceError,
    ServiceStartError,
    ServiceStopError,
    owned_pids,
    stop_all,
)
from harness.services.s3 import S3Server, s3_client
from harness.services.stack import EmbeddedStack, StackEndpoints

__all__ = [
    "EmbeddedStack",
    "ManagedProcess",
    "NatsCluster",
    "NatsServer",
    "PostgresServer",
    "S3Server",
    "ServiceError",
    "ServiceStartError",
    "ServiceStopError",
    "StackEndpoints",
    "find_nats_server",
    "find_postgres_bin",
    "owned_pids",
    "s3_client",
    "stop_all",
]
