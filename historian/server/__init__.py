"""``twinbench historian serve``: the long-running process that owns one store.

It opens the store (recovery logged and exported), hosts the ingest workers when
given a NATS URL, and the network front ends (each contributes keys to the
ready file), and stops cleanly on SIGINT/SIGTERM. See :mod:`historian.server.process`.
"""

from historian.server.process import (
    EXIT_STORE_UNUSABLE,
    FrontEnd,
    HistorianServer,
    ServeConfig,
)

__all__ = ["EXIT_STORE_UNUSABLE", "FrontEnd", "HistorianServer", "ServeConfig"]
