"""Connection management in a server without ``--nats``: every operation says so (409),
listed in the OpenAPI document, and nothing starts."""

from __future__ import annotations

from .conftest import ApiServer


def test_without_nats_every_connection_operation_is_a_clear_409(api: ApiServer) -> None:
    doc = {"endpoint": "modbus://127.0.0.1:5020", "pattern": "*"}
    calls = [
        api.get("/api/v1/connections"),
        api.post_json("/api/v1/connections", doc),
        api.get("/api/v1/connections/x"),
        api.get("/api/v1/connections/x/health"),
        api.request("DELETE", "/api/v1/connections/x"),
    ]
    for r in calls:
        assert r.status == 409, r.body
        err = r.json()["error"]
        assert err["code"] == "conflict" and "--nats" in err["message"], err
    assert not (api.data / "connections").exists()
    assert not (api.data / "connections.json").exists()
    paths = api.get("/api/v1/openapi.json").json()["paths"]
    ops = {m for p, ms in paths.items() if p.startswith("/api/v1/connections") for m in ms}
    assert ops == {"get", "post", "delete"}
    assert "409" in paths["/api/v1/connections"]["post"]["responses"]
