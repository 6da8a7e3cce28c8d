"""structlog set-up for twinbench entry points: JSON lines for machines, console for people.

    configure_logging("INFO", json=True)
    log = structlog.get_logger("harness.services")
    log.info("service_started", service="nats", pid=1234, url="nats://127.0.0.1:4222")

JSON lines carry `timestamp` (ISO 8601 UTC), `level`, `logger` and `event`, plus
the bound key/values; records from the standard `logging` module (asyncua,
nats-py, botocore) go through the same renderer so one file holds everything.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

__all__ = ["configure_logging"]

_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}


def configure_logging(
    level: str | int = "INFO", *, json: bool = True, stream: TextIO | None = None
) -> None:
    """Configure structlog and the stdlib root logger; safe to call more than once."""
    if isinstance(level, str):
        name = level.upper()
        if name not in _LEVELS:
            raise ValueError(f"unknown log level {level!r}; use one of {sorted(_LEVELS)}")
        level_no: int = getattr(logging, name)
    else:
        level_no = level
    out = stream if stream is not None else sys.stderr
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(level_no),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    # Replace only handlers we installed, so pytest's capture handlers survive.
    for old in [h for h in root.handlers if getattr(h, "_twinbench", False)]:
        root.removeHandler(old)
    handler._twinbench = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level_no)
