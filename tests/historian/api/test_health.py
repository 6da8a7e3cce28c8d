"""ApiState's phases from what the server tells it: recovering, ready, degraded."""

from __future__ import annotations

import tempfile
from typing import Any

import pytest

from historian import Historian
from historian.api.errors import ApiError
from historian.api.health import ApiState
from historian.query.engine import QueryEngine


def test_phases_and_write_refusal() -> None:
    parts: dict[str, dict[str, Any]] = {"0": {"state": "ok", "condition": ""}}
    state = ApiState(ingest_health=lambda: parts)
    assert state.health()[0] == 503 and state.health()[1]["status"] == "recovering"
    with pytest.raises(ApiError) as exc:
        state.require_engine()
    assert exc.value.status == 503
    db = Historian.open(tempfile.mkdtemp())
    try:
        state.engine = QueryEngine(db)
        assert state.health() == (
            200,
            {"status": "ready", "reasons": [], "recovery": {}, "tags": 0},
        )
        parts["0"] = {"state": "backing-off", "condition": "disk full"}
        status, body = state.health()
        assert status == 200 and body["status"] == "degraded"
        assert body["reasons"] == ["ingest partition 0 is backing-off: disk full"]
        state.require_writable()  # backing off is transient: API writes still go to the engine
        parts["0"] = {"state": "failed", "condition": "WAL is unusable"}
        with pytest.raises(ApiError) as exc:
            state.require_writable()
        assert exc.value.status == 503 and "failed" in exc.value.message
        assert state.require_engine() is state.engine  # reads still answered
    finally:
        db.close()
