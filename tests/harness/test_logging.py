"""structlog set-up: one JSON object per line, stdlib records included, level filtering."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from harness.logging import configure_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> object:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def test_json_lines_carry_fields_and_stdlib_records() -> None:
    out = io.StringIO()
    configure_logging("INFO", json=True, stream=out)
    structlog.get_logger("harness.services").info("service_started", pid=42, url="nats://x")
    logging.getLogger("nats.aio").warning("reconnecting to %s", "nats://y")
    structlog.get_logger("harness").debug("hidden")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 2
    first, second = lines
    assert first["event"] == "service_started" and first["pid"] == 42
    assert first["level"] == "info" and first["logger"] == "harness.services"
    assert first["timestamp"].endswith("Z")
    assert second["event"] == "reconnecting to nats://y" and second["logger"] == "nats.aio"


def test_reconfigure_replaces_our_handler_and_console_mode() -> None:
    configure_logging("INFO", stream=io.StringIO())
    out = io.StringIO()
    configure_logging("DEBUG", json=False, stream=out)
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_twinbench", False)]
    assert len(ours) == 1
    structlog.get_logger("x").debug("visible", k=1)
    assert "visible" in out.getvalue() and "k=1" in out.getvalue()


def test_unknown_level_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("LOUD")
