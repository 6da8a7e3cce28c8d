"""Property-based fuzzing of the API from its own OpenAPI document (schemathesis).

Generated requests (valid and invalid per the schema) go to a real server process;
every answer must be no 5xx, a status code the document lists, the content type it
lists, and a body matching the listed schema. The document is the server's own; the
test only narrows the tag name, time and interval parameters to lists of real and
wrong values (tags that exist and one that does not, PI-style and ISO times,
intervals), so that generated requests reach every handler and its 200 answers, not
only the 404 of a random tag name; schemathesis' negative cases still send junk.
Bounded: 25 cases per operation, about half a minute in all on the 2-core machine.
(The strategies are driven with Hypothesis directly: schemathesis' pytest plugin does
not load on pytest 9.)
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Err, Ok

from .conftest import FLOW, RUNNING, TEMP, ApiServer

pytestmark = [pytest.mark.service]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 25
REAL = {  # real values and a few wrong ones; schemathesis' negative cases add junk
    "name": [FLOW, RUNNING, TEMP, "acme.nowhere.tag"],
    "start": ["2026-11-30T00:00:00Z", "*-30d", "t", "2026-11-30T00:10:00.5+01:00", "noon"],
    "end": ["2026-11-30T01:00:00Z", "*", "*+1d", "2026-02-30"],
    "time": ["2026-11-30T00:00:00.25Z", "*", "y-1h", "soon"],
    "interval": ["1s", "10m", "1h", "1d", "5parsec"],
}


_T = TypeVar("_T")
_E = TypeVar("_E", bound=Exception)


def ok(result: Ok[_T] | Err[_E]) -> _T:
    """The value of an Ok; an Err (a schema the loader refused) fails here, with its error."""
    assert isinstance(result, Ok), result.err()
    return result.ok()


def widened(doc: dict[str, Any]) -> dict[str, Any]:
    doc = json.loads(json.dumps(doc))
    for path in doc["paths"].values():
        for op in path.values():
            for param in op.get("parameters", []):
                real = REAL.get(param["name"])
                if real is None:
                    continue
                s = param["schema"]
                if s.get("type") == "array":
                    s["items"] = {"enum": real}
                else:
                    param["schema"] = {"enum": real}
    return doc


def test_no_server_errors_and_answers_match_the_schema(api: ApiServer) -> None:
    doc = api.get("/api/v1/openapi.json").json()
    schema = schemathesis.openapi.from_dict(widened(doc))
    operations = [ok(r) for r in schema.get_all_operations()]
    assert len(operations) == 16  # 10 query/write + 5 connection operations + events
    calls: dict[str, set[int]] = {}
    for op in operations:
        seen = calls.setdefault(op.label, set())

        @given(op.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def fuzz(case: Any) -> None:
            response = case.call_and_validate(base_url=api.url, checks=CHECKS)
            seen.add(response.status_code)  # noqa: B023 - bound for this operation's run

        fuzz()
    print(calls)
    # the fuzzing reached the handlers and their answers, not only the router
    value_ops = [k for k in calls if k.startswith("GET /api/v1/tags/{name}/")]
    assert sum(200 in calls[k] for k in value_ops) >= 4, calls
    assert sum(400 in calls[k] for k in value_ops) >= 3, calls
    assert {200, 400} <= calls["GET /api/v1/events"], calls
